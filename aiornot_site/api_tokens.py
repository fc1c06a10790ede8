"""Writes and reads of a user's API token (DRF's one token per user).

The key is shown once, when it is created; afterwards only that a token exists and when it was
made. Creating a new token revokes the old one, so a leaked key is retired by making another.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from rest_framework.authtoken.models import Token


def api_token_created_at(*, user) -> datetime | None:
    """When the user's current token was made, or None when they have none."""
    return Token.objects.filter(user=user).values_list("created", flat=True).first()


def api_token_replace(*, user) -> str:
    """Revoke the user's token (if any) and make a new one; returns the new key (show it once)."""
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user).key


def api_token_revoke(*, user) -> bool:
    """Delete the user's token; True when there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)
