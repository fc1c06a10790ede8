from django.contrib import admin
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import TokenProxy

from aiornot_site.user_admin import RoleLimitedUserAdmin

from .models import Collection, KnownImage, Evidence, ImageAsset, Submission, SubmissionEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Audit and evidence rows are facts: admins read them, nobody edits them here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class EvidenceInline(ReadOnlyInline):
    model = Evidence
    readonly_fields = ["kind", "producer_version", "p_ai", "raw", "created_at"]


@admin.register(ImageAsset)
class ImageAssetAdmin(ReadOnlyAdmin):
    list_display = ["id", "sha256", "format", "width", "height", "size_bytes", "created_at"]
    search_fields = ["sha256"]
    list_filter = ["format"]
    inlines = [EvidenceInline]


class SubmissionEventInline(ReadOnlyInline):
    model = SubmissionEvent
    readonly_fields = ["at", "action", "actor", "data"]


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "created_at", "submitted_by", "source", "channel", "status", "verdict", "p_ai",
        "model_version", "routed_to_review",
    ]
    list_filter = ["status", "verdict", "source", "channel", "routed_to_review"]
    search_fields = ["asset__sha256", "submitted_by__username", "source_url", "original_filename"]
    date_hierarchy = "created_at"
    inlines = [SubmissionEventInline]


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyAdmin):
    list_display = ["id", "asset", "kind", "producer_version", "p_ai", "created_at"]
    list_filter = ["kind", "producer_version"]


@admin.register(SubmissionEvent)
class SubmissionEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "submission", "action", "actor"]
    list_filter = ["action"]
    search_fields = ["submission__id", "actor__username"]


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["name", "policy", "is_open", "created_by", "created_at"]
    list_filter = ["policy", "is_open"]
    search_fields = ["name"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(KnownImage)
class KnownImageAdmin(ReadOnlyAdmin):
    """Imported with `manage.py import_known_images`; read-only here so hashes stay true to their files."""

    list_display = ["id", "label", "set_name", "source_path", "imported_at"]
    list_filter = ["label", "set_name"]
    search_fields = ["sha256", "source_path", "set_name"]


# Users: the app's admin role may not grant superuser or staff, nor edit permissions or other
# staff accounts (aiornot_site/user_admin.py). API tokens are secrets: never listed in the admin.
admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), RoleLimitedUserAdmin)
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)
