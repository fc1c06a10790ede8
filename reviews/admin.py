from django.contrib import admin

from detector.admin import ReadOnlyAdmin, ReadOnlyInline

from .models import CaseEvent, CaseSkip, ReviewCase, ReviewDecision


class DecisionInline(ReadOnlyInline):
    model = ReviewDecision
    readonly_fields = [
        "reviewer", "decision", "reason_codes", "note", "stage", "round", "model_p_ai", "model_verdict", "created_at",
    ]


class CaseEventInline(ReadOnlyInline):
    model = CaseEvent
    readonly_fields = ["at", "action", "actor", "data"]


@admin.register(ReviewCase)
class ReviewCaseAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "created_at", "status", "reason", "p_ai_at_routing", "verdict_at_routing", "claimed_by",
        "lease_expires_at", "label", "labelled_at", "round",
    ]
    list_filter = ["status", "reason", "label", "verdict_at_routing"]
    search_fields = ["asset__sha256"]
    inlines = [DecisionInline, CaseEventInline]


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(ReadOnlyAdmin):
    list_display = ["id", "case", "reviewer", "decision", "stage", "round", "model_verdict", "created_at"]
    list_filter = ["decision", "stage", "model_verdict"]


@admin.register(CaseEvent)
class CaseEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "case", "action", "actor"]
    list_filter = ["action"]


@admin.register(CaseSkip)
class CaseSkipAdmin(ReadOnlyAdmin):
    list_display = ["case", "reviewer", "skipped_at", "until"]
