"""The registry's refusal: RegistryError, a ServiceError raised by every registry module."""

from __future__ import annotations

from aiornot_site.errors import ServiceError


class RegistryError(ServiceError):
    """A refused registry operation; `code` is stable, `message` is for people, `http_status` 4xx."""
