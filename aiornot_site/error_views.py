"""Error pages: JSON under /api/, a plain page elsewhere, never a traceback."""

from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _


def _respond(request, status: int, code: str, message: str):
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": code, "message": message}}, status=status)
    response = TemplateResponse(request, "error.html", {"title": message, "message": ""}, status=status)
    return response.render()


def bad_request(request, exception=None):
    return _respond(request, 400, "bad_request", _("The request could not be understood."))


def permission_denied(request, exception=None):
    return _respond(request, 403, "permission_denied", _("You do not have permission to do this."))


def page_not_found(request, exception=None):
    return _respond(request, 404, "not_found", _("Not found."))


def server_error(request):
    return _respond(request, 500, "server_error", _("Something went wrong on our side; the error has been logged."))
