from django.contrib import admin

from detector.admin import ReadOnlyAdmin

from .models import Job, LabelSplit, ModelEvent, ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    """Changes go through /models/ (guarded promotion, rollback), never through raw edits."""

    list_display = ["version", "status", "arch", "created_at", "promoted_at", "promoted_by"]
    list_filter = ["status", "arch"]


@admin.register(ModelEvent)
class ModelEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "action", "model_version", "actor"]


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "status", "done", "total", "created_at", "finished_at"]
    list_filter = ["kind", "status"]


@admin.register(LabelSplit)
class LabelSplitAdmin(ReadOnlyAdmin):
    list_display = ["case", "split", "frozen_at"]
    list_filter = ["split"]
