"""REST API for reviewers: queue status, claim, release, decide."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from aiornot_site.api_errors import ApiError
from aiornot_site.roles import is_reviewer

from .selectors import case_for_reviewer, case_held_by, queue_counts
from .serializers import DecisionCreateSerializer, ReviewCaseSerializer, ReviewDecisionSerializer
from .services import ReviewError, case_claim_next, case_decide, case_release


class IsReviewer(BasePermission):
    message = "Only reviewers may use the review queue."

    def has_permission(self, request, view):
        return is_reviewer(request.user)


class ReviewApi(APIView):
    permission_classes = APIView.permission_classes + [IsReviewer]


class QueueApi(ReviewApi):
    """How many cases wait, and the case you hold (if any)."""

    @extend_schema(responses={200: OpenApiResponse(description="Queue counts and your held case")})
    def get(self, request):
        held = case_held_by(request.user)
        return Response(
            {
                "counts": queue_counts(),
                "held_case": ReviewCaseSerializer(held, context={"request": request}).data if held else None,
            }
        )


class ClaimNextApi(ReviewApi):
    """Claim the next case; you hold it until you decide, release it or the lease expires."""

    @extend_schema(request=None, responses={200: ReviewCaseSerializer, 204: OpenApiResponse(description="Queue empty")})
    def post(self, request):
        case = case_claim_next(reviewer=request.user)
        if case is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(ReviewCaseSerializer(case, context={"request": request}).data)


class CaseDetailApi(ReviewApi):
    @extend_schema(responses={200: ReviewCaseSerializer})
    def get(self, request, pk: int):
        case = case_for_reviewer(reviewer=request.user, case_id=pk)
        if case is None:
            raise ApiError("not_found", "No such case, or you do not hold it.", status.HTTP_404_NOT_FOUND)
        return Response(ReviewCaseSerializer(case, context={"request": request}).data)


class CaseReleaseApi(ReviewApi):
    @extend_schema(request=None, responses={200: ReviewCaseSerializer})
    def post(self, request, pk: int):
        try:
            case = case_release(case_id=pk, reviewer=request.user)
        except ReviewError as exc:
            raise ApiError(exc.code, exc.message, exc.http_status) from exc
        return Response(ReviewCaseSerializer(case, context={"request": request}).data)


class CaseDecisionApi(ReviewApi):
    """Decide `ai`, `human` or `unsure`; the decision becomes the image's label."""

    @extend_schema(request=DecisionCreateSerializer, responses={201: ReviewDecisionSerializer})
    def post(self, request, pk: int):
        serializer = DecisionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            decision = case_decide(
                case_id=pk,
                reviewer=request.user,
                decision=serializer.validated_data["decision"],
                note=serializer.validated_data.get("note", ""),
            )
        except ReviewError as exc:
            raise ApiError(exc.code, exc.message, exc.http_status) from exc
        return Response(ReviewDecisionSerializer(decision).data, status=status.HTTP_201_CREATED)
