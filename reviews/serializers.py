from django.urls import reverse
from rest_framework import serializers

from detector.presentation import DISCLAIMER, probability_lines

from .case_selectors import (
    case_requeue_reason,
    current_round_decisions,
    decisions_visible_to,
    matching_case_outcomes,
    status_visible_to,
)
from .models import Decision, ReasonCode, ReviewCase, ReviewDecision


class ReviewDecisionSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.username", read_only=True)
    reason_codes = serializers.ListField(child=serializers.ChoiceField(choices=ReasonCode.choices), read_only=True)

    class Meta:
        model = ReviewDecision
        fields = [
            "id", "case", "reviewer", "decision", "reason_codes", "note", "stage", "round",
            "model_p_ai", "model_verdict", "created_at",
        ]


class MatchingCaseSerializer(serializers.Serializer):
    """An earlier decision on an image this one matches (from the known-image evidence)."""

    case_id = serializers.IntegerField()
    signal = serializers.CharField()
    line = serializers.CharField()
    final = serializers.BooleanField(help_text="False when that case was re-opened and has no final label now")
    label = serializers.CharField(allow_blank=True)
    labelled_at = serializers.DateTimeField(allow_null=True)
    decisions = ReviewDecisionSerializer(many=True)


class ReviewCaseSerializer(serializers.ModelSerializer):
    """A case as the requesting reviewer may see it (blind while they hold it)."""

    status = serializers.SerializerMethodField(
        help_text="open, awaiting_second, escalated or decided; the reviewer holding a case sees open"
    )
    image_url = serializers.SerializerMethodField()
    model = serializers.SerializerMethodField()
    submitter_note = serializers.CharField(source="first_submission.note", read_only=True)
    disclaimer = serializers.SerializerMethodField()
    decisions = serializers.SerializerMethodField()
    matching_cases = serializers.SerializerMethodField()
    requeue_reason = serializers.SerializerMethodField()

    class Meta:
        model = ReviewCase
        fields = [
            "id",
            "status",
            "reason",
            "round",
            "created_at",
            "claimed_at",
            "lease_expires_at",
            "label",
            "labelled_at",
            "image_url",
            "model",
            "submitter_note",
            "disclaimer",
            "decisions",
            "matching_cases",
            "requeue_reason",
        ]

    def _user(self):
        request = self.context.get("request")
        return request.user if request else None

    def get_status(self, obj) -> str:
        user = self._user()
        return status_visible_to(obj, user) if user else obj.status

    def get_image_url(self, obj) -> str:
        path = reverse("review-case-image", args=[obj.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_model(self, obj) -> dict:
        lines = probability_lines(obj.p_ai_at_routing) or {}
        return {
            "p_ai": obj.p_ai_at_routing,
            **lines,
            "verdict": obj.verdict_at_routing,
            "model_version": obj.model_version_at_routing,
        }

    def get_disclaimer(self, obj) -> str:
        return str(DISCLAIMER)

    def get_decisions(self, obj) -> list[dict]:
        user = self._user()
        visible = decisions_visible_to(obj, user) if user else []
        return ReviewDecisionSerializer(visible, many=True).data

    def get_matching_cases(self, obj) -> list[dict]:
        return MatchingCaseSerializer(matching_case_outcomes(obj), many=True).data

    def get_requeue_reason(self, obj) -> str:
        return case_requeue_reason(obj)


class EscalatedCaseSerializer(ReviewCaseSerializer):
    """An escalated case for admins: both decisions of the disagreeing round."""

    round_decisions = serializers.SerializerMethodField()

    class Meta(ReviewCaseSerializer.Meta):
        fields = ReviewCaseSerializer.Meta.fields + ["round_decisions"]

    def get_round_decisions(self, obj) -> list[dict]:
        return ReviewDecisionSerializer(current_round_decisions(obj), many=True).data


class DecisionCreateSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Decision.choices)
    reason_codes = serializers.ListField(
        child=serializers.ChoiceField(choices=ReasonCode.choices), required=False, allow_empty=True, max_length=20
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class RequeueSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, allow_blank=True, required=False)
