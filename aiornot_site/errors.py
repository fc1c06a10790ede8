"""The one error a service raises when it refuses a request.

Every app's refusal (``SubmissionRejected``, ``ReviewError``, ``RegistryError``,
``WebhookError``) is a ``ServiceError``: a stable ``code`` for programs, a ``message`` for
people and a 4xx ``http_status``. The API's exception handler (``api_errors``) turns any of
them into the JSON error shape, so API views let them propagate; HTML views and management
commands show ``message``. Nothing here imports Django.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A refused operation: nothing was changed. ``http_status`` is always 4xx."""

    default_http_status = 400

    def __init__(self, code: str, message: str, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status if http_status is not None else self.default_http_status

    def __str__(self) -> str:
        return self.message
