"""One JSON error shape for the whole API: {"error": {"code": ..., "message": ...}}.

Every refusal a service raises (any ``ServiceError``) reaches the client through here with its
own code, message and HTTP status, so API views let them propagate instead of converting them.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.http import UnreadablePostError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from .errors import ServiceError


class ApiError(exceptions.APIException):
    """An API error with our own code and an explicit HTTP status."""

    def __init__(self, code: str, message: str, http_status: int = status.HTTP_400_BAD_REQUEST):
        super().__init__(detail=message, code=code)
        self.status_code = http_status
        self.error_code = code
        self.message = message


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    return str(detail)


def _as_api_error(exc) -> ApiError | None:
    """A service's refusal, or one of Django's own refusals of a request body (they would otherwise
    be a 500 or an HTML page: a body the client stopped sending, too many fields or files), as an
    API error; None for anything else."""
    if isinstance(exc, ServiceError):
        return ApiError(exc.code, exc.message, exc.http_status)
    if isinstance(exc, UnreadablePostError):
        return ApiError("request_body_incomplete", "The request body did not arrive in full; send it again.")
    if isinstance(exc, RequestDataTooBig):
        return ApiError("request_too_large", str(exc), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        return ApiError("request_too_many_parts", str(exc), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, SuspiciousOperation):
        return ApiError("invalid_request", "The request could not be read.")
    return None


def api_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: any API error, service refusal included, as the one JSON shape."""
    exc = _as_api_error(exc) or exc
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        code, message = exc.error_code, exc.message
    elif isinstance(exc, exceptions.ValidationError):
        code, message = "invalid_request", _flatten(exc.detail)
    else:
        detail = getattr(exc, "detail", None)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        message = _flatten(detail) if detail is not None else str(exc)
    body = {"error": {"code": code, "message": message}}
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        body["error"]["fields"] = exc.detail
    return Response(body, status=response.status_code, headers=_retry_headers(response))


def _retry_headers(response) -> dict:
    return {k: v for k, v in response.items() if k in ("Retry-After", "WWW-Authenticate", "Allow")}
