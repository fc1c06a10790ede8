"""Refuse oversized request bodies before Django reads them."""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


class RequestSizeLimitMiddleware:
    """Answer 413 when Content-Length exceeds AIORNOT_MAX_REQUEST_BYTES.

    Django would otherwise spool the whole body to a temporary file before any view
    could look at its size.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.AIORNOT_MAX_REQUEST_BYTES
        if length > limit:
            message = _(
                "The upload is %(size)s MB; the limit is %(limit)s MB. Please send a smaller file."
            ) % {"size": round(length / 1e6, 1), "limit": round(settings.AIORNOT_MAX_UPLOAD_BYTES / 1e6, 1)}
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"error": {"code": "file_too_large", "message": message}}, status=413
                )
            return render(request, "error.html", {"title": _("File too large"), "message": message}, status=413)
        return self.get_response(request)
