from django.urls import reverse
from rest_framework import serializers

from detector.presentation import DISCLAIMER, probability_lines

from .models import Decision, ReviewCase, ReviewDecision


class ReviewCaseSerializer(serializers.ModelSerializer):
    image_url = serializers.SerializerMethodField()
    model = serializers.SerializerMethodField()
    submitter_note = serializers.CharField(source="first_submission.note", read_only=True)
    disclaimer = serializers.SerializerMethodField()

    class Meta:
        model = ReviewCase
        fields = [
            "id",
            "status",
            "reason",
            "created_at",
            "claimed_at",
            "lease_expires_at",
            "label",
            "labelled_at",
            "image_url",
            "model",
            "submitter_note",
            "disclaimer",
        ]

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


class DecisionCreateSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Decision.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class ReviewDecisionSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.username", read_only=True)

    class Meta:
        model = ReviewDecision
        fields = ["id", "case", "reviewer", "decision", "note", "model_p_ai", "model_verdict", "created_at"]
