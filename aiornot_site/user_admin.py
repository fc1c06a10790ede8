"""The Django admin's user pages, limited for the app's admin role.

The ``admins`` group manages the app: it may add users and give them one of the three roles.
It may not grant Django's superuser or staff bit, edit anyone's individual permissions, or
change the account of a superuser or of another staff member (that would include setting their
password and signing in as them). Only a superuser, created on the command line
(``manage.py createsuperuser``), can do those. API tokens are never listed in the admin.
"""

from __future__ import annotations

from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group

from .roles import ROLE_NAMES

# Fields of the user form only a superuser may change.
SUPERUSER_ONLY_FIELDS = ("is_superuser", "is_staff", "user_permissions")


class RoleLimitedUserAdmin(UserAdmin):
    """Django's UserAdmin, with the privilege fields read-only for anyone but a superuser."""

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += [name for name in SUPERUSER_ONLY_FIELDS if name not in fields]
        return fields

    def has_change_permission(self, request, obj=None):
        if obj is not None and not request.user.is_superuser and obj.pk != request.user.pk:
            if obj.is_superuser or obj.is_staff:
                return False
        return super().has_change_permission(request, obj)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=ROLE_NAMES.values())
        return super().formfield_for_manytomany(db_field, request, **kwargs)
