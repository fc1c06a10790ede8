"""REST API for submissions: one small view per endpoint, services do the work.

A service's refusal (``SubmissionRejected``) propagates to the API's exception handler, which
answers with its code, message and HTTP status."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from aiornot_site.api_errors import ApiError
from aiornot_site.api_parsers import API_PARSER_CLASSES
from aiornot_site.roles import is_submitter

from .collections import archive_open, submissions_create_from_archive
from .models import Submission
from .selectors import submission_get_for_user, submissions_visible_to
from .serializers import BatchCreateSerializer, SubmissionCreateSerializer, SubmissionSerializer
from .services import collection_for_submission, submission_submit, submissions_create_batch
from .views.files import asset_file_response


class CanSubmit(BasePermission):
    message = "Your account may not submit images. Ask an administrator for the submitter role."

    def has_permission(self, request, view):
        return request.method in ("GET", "HEAD", "OPTIONS") or is_submitter(request.user)


class SubmissionListCreateApi(generics.ListAPIView):
    """List your submissions, or submit an image (file upload or URL) for scoring."""

    serializer_class = SubmissionSerializer
    permission_classes = generics.ListAPIView.permission_classes + [CanSubmit]
    parser_classes = API_PARSER_CLASSES

    def get_queryset(self):
        return submissions_visible_to(self.request.user)

    @extend_schema(
        request={"multipart/form-data": SubmissionCreateSerializer, "application/json": SubmissionCreateSerializer},
        responses={
            201: SubmissionSerializer,
            400: OpenApiResponse(description="Invalid request, corrupt image or refused URL"),
            413: OpenApiResponse(description="File or image too large"),
            415: OpenApiResponse(description="Not an image, or an unsupported format"),
            422: OpenApiResponse(description="Truncated or corrupt image"),
        },
    )
    def post(self, request):
        serializer = SubmissionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        submission = submission_submit(
            user=request.user,
            upload=data.get("image"),
            url=data.get("url", ""),
            channel=Submission.Channel.API,
            note=data.get("note", ""),
            collection=collection_for_submission(data.get("collection")),
        )
        submission.refresh_from_db()
        return Response(SubmissionSerializer(submission, context={"request": request}).data, status=status.HTTP_201_CREATED)


class SubmissionDetailApi(APIView):
    """One submission with its score, verdict and review outcome."""

    @extend_schema(responses={200: SubmissionSerializer})
    def get(self, request, pk: int):
        submission = submission_get_for_user(user=request.user, submission_id=pk)
        if submission is None:
            raise ApiError("not_found", "No such submission.", status.HTTP_404_NOT_FOUND)
        return Response(SubmissionSerializer(submission, context={"request": request}).data)


class SubmissionImageApi(APIView):
    """The stored original image bytes."""

    @extend_schema(responses={(200, "image/*"): OpenApiResponse(description="The original image")})
    def get(self, request, pk: int):
        submission = submission_get_for_user(user=request.user, submission_id=pk)
        if submission is None:
            raise ApiError("not_found", "No such submission.", status.HTTP_404_NOT_FOUND)
        return asset_file_response(submission.asset)


class SubmissionBatchApi(APIView):
    """Submit many images (files, links and/or one zip ``archive``) in one request.

    Each item, and each file of the archive, is accepted or refused on its own: 201 when all
    were accepted, 207 when some were, 400 when none was. Accepted items are scored together.
    A hostile or unreadable archive refuses the whole request with a 4xx (archive_not_zip 415,
    archive_corrupt 422, archive_too_many_files / archive_too_large / archive_bomb 413).
    """

    permission_classes = APIView.permission_classes + [CanSubmit]
    parser_classes = API_PARSER_CLASSES

    @extend_schema(
        request={"multipart/form-data": BatchCreateSerializer, "application/json": BatchCreateSerializer},
        responses={201: OpenApiResponse(description="All accepted"), 207: OpenApiResponse(description="Some accepted")},
    )
    def post(self, request):
        data = request.data
        payload = {
            "images": data.getlist("images") if hasattr(data, "getlist") else [],
            "urls": (data.getlist("urls") if hasattr(data, "getlist") else data.get("urls")) or [],
            "note": data.get("note", ""),
        }
        if data.get("collection") not in (None, ""):
            payload["collection"] = data.get("collection")
        if hasattr(data, "getlist") and data.getlist("archive"):
            if len(data.getlist("archive")) > 1:
                raise ApiError("invalid_request", "Send at most one zip file in 'archive'.")
            payload["archive"] = data.getlist("archive")[0]
        serializer = BatchCreateSerializer(data=payload)
        serializer.is_valid(raise_exception=True)
        collection = collection_for_submission(serializer.validated_data.get("collection"))
        # A hostile or unreadable archive refuses the whole request before anything is stored.
        plan = archive_open(serializer.validated_data["archive"]) if serializer.validated_data["archive"] else None
        items = submissions_create_batch(
            user=request.user,
            uploads=serializer.validated_data["images"],
            urls=serializer.validated_data["urls"],
            channel=Submission.Channel.API,
            note=serializer.validated_data["note"],
            collection=collection,
        )
        if plan is not None:
            items += submissions_create_from_archive(
                user=request.user, plan=plan, channel=Submission.Channel.API,
                note=serializer.validated_data["note"], collection=collection, first_index=len(items),
            )
        results = []
        for item in items:
            if item.submission is not None:
                item.submission.refresh_from_db()
                body = SubmissionSerializer(item.submission, context={"request": request}).data
                results.append({"index": item.index, "name": item.name, "submission": body, "error": None})
            else:
                results.append(
                    {"index": item.index, "name": item.name, "submission": None,
                     "error": {"code": item.error.code, "message": item.error.message}}
                )
            if getattr(item, "archive", ""):
                results[-1]["archive"] = item.archive
        accepted = sum(1 for item in items if item.submission is not None)
        http_status = 201 if accepted == len(items) else (207 if accepted else 400)
        body = {"accepted": accepted, "refused": len(items) - accepted, "results": results}
        if plan is not None:
            body["ignored"] = list(plan.ignored)
        if not accepted:
            body["error"] = {"code": "batch_all_refused", "message": "No item of the batch was accepted; see results."}
        return Response(body, status=http_status)
