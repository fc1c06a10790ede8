"""The three roles of aiornot, expressed as Django groups holding model permissions.

Checks go through ``user.has_perm`` so superusers and custom groups work as usual.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

SUBMITTERS = "submitters"
REVIEWERS = "reviewers"
ADMINS = "admins"

PERM_SUBMIT = "detector.submit_image"
PERM_VIEW_ALL = "detector.view_all_submissions"
PERM_REVIEW = "reviews.review_case"
PERM_MANAGE_MODELS = "registry.manage_models"

ROLE_PERMISSIONS: dict[str, list[str]] = {
    SUBMITTERS: [PERM_SUBMIT],
    REVIEWERS: [PERM_SUBMIT, PERM_REVIEW],
    ADMINS: [
        PERM_SUBMIT,
        PERM_REVIEW,
        PERM_VIEW_ALL,
        "detector.view_submission",
        "detector.view_imageasset",
        "detector.view_evidence",
        "detector.view_submissionevent",
        "reviews.view_reviewcase",
        "reviews.view_reviewdecision",
        "reviews.view_caseevent",
        "reviews.view_caseskip",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
        PERM_MANAGE_MODELS,
        "registry.view_modelversion",
        "registry.view_modelevent",
        "registry.view_job",
        "detector.view_collection",
        "detector.add_collection",
        "detector.change_collection",
        "detector.view_knownimage",
        "webhooks.view_webhookendpoint",
        "webhooks.view_webhookdelivery",
    ],
}
ROLE_NAMES = {"submitter": SUBMITTERS, "reviewer": REVIEWERS, "admin": ADMINS}


def is_submitter(user) -> bool:
    return user.is_authenticated and user.is_active and user.has_perm(PERM_SUBMIT)


def is_reviewer(user) -> bool:
    return user.is_authenticated and user.is_active and user.has_perm(PERM_REVIEW)


def is_site_admin(user) -> bool:
    return user.is_authenticated and user.is_active and user.has_perm(PERM_VIEW_ALL)


def can_manage_models(user) -> bool:
    return user.is_authenticated and user.is_active and user.has_perm(PERM_MANAGE_MODELS)


def role_required(allowed):
    """View decorator: sign-in required, then 403 unless ``allowed(user)`` is true."""
    def decorate(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if not allowed(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
