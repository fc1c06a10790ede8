"""Create the submitters / reviewers / admins groups with their permissions."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from aiornot_site.roles import ROLE_PERMISSIONS


OUR_APPS = {"detector", "reviews", "registry", "webhooks", "dashboards"}


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
    # post_migrate fires once per app. Acting after each of ours is idempotent and cheap, and
    # the last one sees every permission (whatever order the apps are listed in).
    if app_config is None or app_config.label not in OUR_APPS:
        return
    role_groups_ensure()
