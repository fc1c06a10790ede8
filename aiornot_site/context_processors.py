from reviews.selectors import new_escalation_count

from .roles import can_manage_models, is_reviewer, is_site_admin, is_submitter


def roles(request):
    """Expose the signed-in user's roles to templates (for navigation only)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"can_submit": False, "can_review": False, "is_site_admin": False, "can_manage_models": False}
    return {
        "can_submit": is_submitter(user),
        "can_review": is_reviewer(user),
        "is_site_admin": is_site_admin(user),
        "can_manage_models": can_manage_models(user),
    }


def review_badges(request):
    """How many escalated cases wait for an admin (the badge in the navigation); 0 for others."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not is_site_admin(user):
        return {"new_escalations": 0}
    return {"new_escalations": new_escalation_count(user)}
