"""Create the submitters / reviewers / admins groups with their permissions."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from aiornot_site.roles import ROLE_PERMISSIONS


def role_groups_ensure() -> dict[str, Group]:
    """Create or update the three role groups; safe to run any number of times."""
    groups = {}
    for group_name, perm_names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        perms = []
        for dotted in perm_names:
            app_label, codename = dotted.split(".", 1)
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is not None:
                perms.append(perm)
        group.permissions.add(*perms)
        groups[group_name] = group
    return groups


def ensure_role_groups_after_migrate(sender, app_config=None, using="default", **kwargs):
    # post_migrate fires once per app; act only after the last of ours so every
    # permission exists.
    if app_config is None or app_config.label != "registry":
        return
    role_groups_ensure()
