"""Private file responses: a stored image, its heatmap, a thumbnail, sent only to people who may
see them (the views check that) and never cached by shared caches or run as a document."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404


def heatmap_file_response(submission) -> FileResponse:
    """The stored Grad-CAM heatmap of this submission's classifier result (404 when there is none)."""
    name = heatmap_name_for(submission)
    if not name or not default_storage.exists(name):
        raise Http404("No heatmap was stored for this result.")
    return private_file_response(default_storage.open(name, "rb"), "image/png")


def heatmap_name_for(submission) -> str:
    """The storage name of the submission's heatmap, or '' when none was stored."""
    evidence = submission.classifier_evidence
    return ((evidence.raw or {}).get("heatmap") or "") if evidence is not None else ""


def asset_file_response(asset) -> FileResponse:
    """The stored original image, with the content type of its format."""
    content_type = {
        "JPEG": "image/jpeg",
        "MPO": "image/jpeg",
        "PNG": "image/png",
        "WEBP": "image/webp",
        "GIF": "image/gif",
        "BMP": "image/bmp",
        "TIFF": "image/tiff",
    }.get(asset.format, "application/octet-stream")
    return private_file_response(asset.file.open("rb"), content_type)


def private_file_response(handle, content_type: str) -> FileResponse:
    """A file for one person's browser only: private cache, no scripts, no content sniffing."""
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "private, max-age=300"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    return response
