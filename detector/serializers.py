from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reviews.selectors import submission_outcome

from .evidence_text import CLASSIFIER_SCORE_CODE
from .models import Submission
from .policy import VERDICTS
from .presentation import DISCLAIMER, probability_lines
from .selectors import verdict_withheld


class SubmissionCreateSerializer(serializers.Serializer):
    """Send exactly one of ``image`` (multipart file) or ``url``."""

    image = serializers.FileField(required=False, help_text="The image file (multipart/form-data).")
    url = serializers.CharField(required=False, max_length=2048, help_text="A public http(s) link to an image.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    collection = serializers.IntegerField(required=False, allow_null=True, help_text="id of an open collection")

    def validate(self, attrs):
        if attrs.get("image") and attrs.get("url"):
            raise serializers.ValidationError("Send either an image file or a url, not both.", code="both_given")
        if not attrs.get("image") and not (attrs.get("url") or "").strip():
            raise serializers.ValidationError("Send an image file (field 'image') or a url (field 'url').", code="nothing_given")
        return attrs


@extend_schema_field(OpenApiTypes.STR)
class BatchLinkField(serializers.Field):
    """One entry of a batch's ``urls``, kept as sent: the batch refuses a malformed one on its own."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class BatchCreateSerializer(serializers.Serializer):
    """Send many files as repeated multipart ``images`` fields, a list of ``urls`` and/or one
    zip ``archive`` of images."""

    # Empty, corrupt, unsupported or too large files and malformed links are refused one by one
    # by the batch service (per-item results), never by the serializer for the whole batch.
    images = serializers.ListField(child=serializers.FileField(allow_empty_file=True), required=False, default=list)
    urls = serializers.ListField(child=BatchLinkField(allow_null=True), required=False, default=list)
    archive = serializers.FileField(
        required=False,
        allow_null=True,
        default=None,
        help_text=(
            "A zip archive of images; each file in it is accepted or refused on its own. Folders, hidden "
            "files and __MACOSX metadata are skipped. Limits: AIORNOT_ZIP_MAX_FILES files, "
            "AIORNOT_ZIP_MAX_TOTAL_BYTES expanded, AIORNOT_MAX_UPLOAD_BYTES per file; a zip bomb is refused "
            "whole (413 archive_bomb)."
        ),
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")
    collection = serializers.IntegerField(required=False, allow_null=True, help_text="id of an open collection")

    def validate(self, attrs):
        count = len(attrs["images"]) + len(attrs["urls"])
        if count == 0 and attrs.get("archive") is None:
            raise serializers.ValidationError(
                "Send at least one file in 'images', one link in 'urls' or a zip file in 'archive'."
            )
        if count > settings.AIORNOT_BATCH_MAX_ITEMS:
            raise serializers.ValidationError(
                f"A batch holds at most {settings.AIORNOT_BATCH_MAX_ITEMS} items; this one has {count}."
            )
        return attrs


class ImageInfoSerializer(serializers.Serializer):
    sha256 = serializers.CharField()
    format = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    size_bytes = serializers.IntegerField()


class EvidenceItemSerializer(serializers.Serializer):
    layer = serializers.ChoiceField(choices=["classifier", "provenance", "watermark", "visible_mark", "known_image"])
    signal = serializers.CharField(help_text='e.g. "c2pa", "png_generator_parameters", "reviewer_label_match"')
    direction = serializers.ChoiceField(choices=["ai", "human", "none", "unreadable"])
    strength = serializers.CharField(allow_blank=True)
    verified = serializers.BooleanField(help_text="a signature or a person vouches for it; unsigned metadata is forgeable")
    line = serializers.CharField(help_text="one sentence for people, in English")
    details = serializers.DictField(help_text="the facts behind the line")
    code = serializers.CharField(
        allow_blank=True,
        help_text='stable name of the sentence in `line`, e.g. "provenance.camera_exif"; empty for evidence '
        "stored before codes existed (then only `line` says it)",
    )
    params = serializers.DictField(
        help_text="the values that fill the sentence of `code` (plain JSON; a value may be a "
        '{"code", "params"} part); empty when `code` is'
    )


class ScoreSerializer(serializers.Serializer):
    p_ai = serializers.FloatField()
    ai_generated = serializers.CharField(help_text='e.g. "AI-generated: 73%"')
    human_made = serializers.CharField(help_text='e.g. "human-made: 27%"')
    verdict = serializers.ChoiceField(choices=list(VERDICTS))
    model_version = serializers.CharField()
    policy_version = serializers.CharField()
    scored_at = serializers.DateTimeField()
    reused_earlier_result = serializers.BooleanField()
    p_ai_reencoded = serializers.FloatField(allow_null=True, help_text="P(AI) of a JPEG-90, 0.9x copy")
    unstable_under_reencoding = serializers.BooleanField(help_text="the copy got another verdict, so it reads uncertain")
    too_small_to_judge = serializers.BooleanField(
        help_text="the image's short side is under the policy minimum (64 px), so it reads uncertain"
    )
    small_image_caution = serializers.BooleanField(
        help_text="judged, but the short side is under 448 px, where the model errs more often both ways; "
        "ask for the original file if the verdict matters"
    )
    heatmap_url = serializers.CharField(allow_null=True, help_text="Grad-CAM overlay, when stored")
    classifier_p_ai = serializers.FloatField(allow_null=True, help_text="the classifier's P(AI) before fusion")
    evidence = EvidenceItemSerializer(many=True, help_text="every piece of evidence, classifier first")
    fusion_notes = serializers.ListField(child=serializers.CharField(), help_text="why the verdict is what it is")


class ReviewOutcomeSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["not_scored", "not_routed", "waiting", "in_review", "decided"])
    label = serializers.CharField(allow_blank=True)
    decided_at = serializers.DateTimeField(allow_null=True)


class SubmissionSerializer(serializers.ModelSerializer):
    image = serializers.SerializerMethodField()
    image_url = serializers.SerializerMethodField()
    score = serializers.SerializerMethodField()
    review = serializers.SerializerMethodField()
    disclaimer = serializers.SerializerMethodField()
    submitted_by = serializers.CharField(source="submitted_by.username", read_only=True)
    collection = serializers.PrimaryKeyRelatedField(read_only=True)
    result_withheld = serializers.SerializerMethodField(
        help_text="true while an art-contest entry scored likely AI awaits a reviewer; `score` is null meanwhile"
    )

    class Meta:
        model = Submission
        fields = [
            "id",
            "status",
            "failure_reason",
            "created_at",
            "submitted_by",
            "source",
            "channel",
            "source_url",
            "original_filename",
            "note",
            "collection",
            "result_withheld",
            "image",
            "image_url",
            "score",
            "routed_to_review",
            "review",
            "disclaimer",
        ]

    @extend_schema_field(ImageInfoSerializer)
    def get_image(self, obj):
        asset = obj.asset
        return ImageInfoSerializer(asset).data

    def get_image_url(self, obj) -> str:
        path = reverse("api-submission-image", args=[obj.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    @extend_schema_field(ScoreSerializer(allow_null=True))
    def get_score(self, obj):
        """None until scored, and for an art-contest entrant while a likely-AI result awaits review."""
        if obj.status != Submission.Status.SCORED:
            return None
        request = self.context.get("request")
        if request is not None and verdict_withheld(obj, request.user):
            return None
        lines = probability_lines(obj.p_ai)
        raw = (obj.classifier_evidence.raw or {}) if obj.classifier_evidence_id else {}
        heatmap_url = None
        if raw.get("heatmap"):
            heatmap_url = reverse("submission-heatmap", args=[obj.pk])
            request = self.context.get("request")
            heatmap_url = request.build_absolute_uri(heatmap_url) if request else heatmap_url
        return {
            "p_ai": obj.p_ai,
            **lines,
            "verdict": obj.verdict,
            "model_version": obj.model_version,
            "policy_version": obj.policy_version,
            "scored_at": obj.scored_at,
            "reused_earlier_result": obj.reused_earlier_result,
            "p_ai_reencoded": (raw.get("perturbed") or {}).get("p_ai"),
            "unstable_under_reencoding": obj.unstable_under_reencoding,
            "too_small_to_judge": obj.too_small_to_judge,
            "small_image_caution": obj.small_image_caution,
            "heatmap_url": heatmap_url,
            "classifier_p_ai": (obj.fusion or {}).get("classifier_p_ai"),
            "evidence": _evidence_items(obj.fusion or {}),
            "fusion_notes": list((obj.fusion or {}).get("notes", [])),
        }

    @extend_schema_field(ReviewOutcomeSerializer)
    def get_review(self, obj):
        outcome = submission_outcome(obj)
        return {"state": outcome.state, "label": outcome.label, "decided_at": outcome.decided_at}

    def get_result_withheld(self, obj) -> bool:
        request = self.context.get("request")
        return bool(request is not None and obj.status == Submission.Status.SCORED and verdict_withheld(obj, request.user))

    def get_disclaimer(self, obj) -> str:
        return str(DISCLAIMER)


def _evidence_items(fusion: dict) -> list[dict]:
    items = []
    for c in fusion.get("contributions", []):
        if c.get("layer") == "classifier" and c.get("p_ai") is not None:
            items.append(
                {
                    "layer": "classifier",
                    "signal": "classifier",
                    "direction": "ai" if c["p_ai"] >= 0.5 else "human",
                    "strength": "",
                    "verified": False,
                    "line": f"The classifier scored the pixels {round(c['p_ai'] * 100)}% AI-generated.",
                    "details": {"p_ai": c["p_ai"], "p_ai_reencoded": c.get("p_ai_reencoded"), "counted": c.get("reliable", True)},
                    "code": CLASSIFIER_SCORE_CODE,
                    "params": {"pct": round(c["p_ai"] * 100)},
                }
            )
    for f in fusion.get("findings", []):
        items.append(
            {k: f.get(k, "" if k != "details" else {}) for k in ("layer", "signal", "direction", "strength", "line", "details")}
            | {"verified": bool(f.get("verified")), "code": f.get("code") or "", "params": f.get("params") or {}}
        )
    return items
