"""Pages about the signed-in person's own account: their API token."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from .api_tokens import api_token_created_at, api_token_replace, api_token_revoke


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def api_token(request):
    """See whether you have an API token, make a new one (shown once) or revoke it."""
    new_key = ""
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            if api_token_revoke(user=request.user):
                messages.success(request, _("Your API token is revoked: programs using it are refused from now on."))
            return redirect("account-api-token")
        new_key = api_token_replace(user=request.user)
    return render(
        request,
        "registration/api_token.html",
        {"created_at": api_token_created_at(user=request.user), "new_key": new_key},
    )
