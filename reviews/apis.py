"""REST API for reviewers (queue, claim, release, skip, decide) and admins (escalations, re-queue).

A refused action (``ReviewError``) propagates: the API's exception handler turns it into the JSON
error shape with its code and status."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from aiornot_site.api_errors import ApiError
from aiornot_site.roles import is_reviewer, is_site_admin

from .case_selectors import case_for_reviewer
from .models import ReasonCode
from .selectors import case_held_by, escalated_cases, queue_counts
from .serializers import (
    DecisionCreateSerializer,
    EscalatedCaseSerializer,
    RequeueSerializer,
    ReviewCaseSerializer,
    ReviewDecisionSerializer,
)
from .services import (
    case_claim_next,
    case_decide,
    case_escalation_decide,
    case_release,
    case_requeue,
    case_skip,
)


class IsReviewer(BasePermission):
    message = "Only reviewers may use the review queue."

    def has_permission(self, request, view):
        return is_reviewer(request.user)


class IsSiteAdmin(BasePermission):
    message = "Only admins may settle escalations and re-open decided cases."

    def has_permission(self, request, view):
        return is_site_admin(request.user)


class ReviewApi(APIView):
    permission_classes = APIView.permission_classes + [IsReviewer]


class AdminReviewApi(APIView):
    permission_classes = APIView.permission_classes + [IsSiteAdmin]


def _case_data(request, case) -> dict:
    return ReviewCaseSerializer(case, context={"request": request}).data


class QueueApi(ReviewApi):
    """How many cases there are in each state, the case you hold (if any), and the reason codes."""

    @extend_schema(responses={200: OpenApiResponse(description="Queue counts, your held case, reason codes")})
    def get(self, request):
        held = case_held_by(request.user)
        return Response(
            {
                "counts": queue_counts(viewer=request.user),
                "held_case": _case_data(request, held) if held else None,
                "reason_codes": [{"code": code, "label": str(label)} for code, label in ReasonCode.choices],
            }
        )


class ClaimNextApi(ReviewApi):
    """Claim the next case; you hold it until you decide, release or skip it, or the lease expires."""

    @extend_schema(request=None, responses={200: ReviewCaseSerializer, 204: OpenApiResponse(description="Queue empty")})
    def post(self, request):
        case = case_claim_next(reviewer=request.user)
        if case is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(_case_data(request, case))


class CaseDetailApi(ReviewApi):
    @extend_schema(responses={200: ReviewCaseSerializer})
    def get(self, request, pk: int):
        case = case_for_reviewer(reviewer=request.user, case_id=pk)
        if case is None:
            raise ApiError("not_found", "No such case, or you do not hold it.", status.HTTP_404_NOT_FOUND)
        return Response(_case_data(request, case))


class CaseReleaseApi(ReviewApi):
    @extend_schema(request=None, responses={200: ReviewCaseSerializer})
    def post(self, request, pk: int):
        case = case_release(case_id=pk, reviewer=request.user)
        return Response(_case_data(request, case))


class CaseSkipApi(ReviewApi):
    """Hand the case back; it is not offered to you again for AIORNOT_REVIEW_SKIP_HOURS."""

    @extend_schema(request=None, responses={200: ReviewCaseSerializer})
    def post(self, request, pk: int):
        case = case_skip(case_id=pk, reviewer=request.user)
        return Response(_case_data(request, case))


class CaseDecisionApi(ReviewApi):
    """Decide `ai`, `human` or `unsure`, with optional `reason_codes` and a `note`.

    `human` and `unsure` become the image's label at once; `ai` too, unless the image is in a
    collection that needs a second opinion (then a second, independent reviewer decides).
    """

    @extend_schema(request=DecisionCreateSerializer, responses={201: ReviewDecisionSerializer})
    def post(self, request, pk: int):
        serializer = DecisionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decision = case_decide(
            case_id=pk,
            reviewer=request.user,
            decision=serializer.validated_data["decision"],
            note=serializer.validated_data.get("note", ""),
            reason_codes=serializer.validated_data.get("reason_codes", []),
        )
        return Response(ReviewDecisionSerializer(decision).data, status=status.HTTP_201_CREATED)


class EscalationListApi(AdminReviewApi):
    """Cases whose two reviewers disagreed, with both decisions, in queue order."""

    @extend_schema(
        responses={
            200: inline_serializer(
                name="EscalationList",
                fields={"count": serializers.IntegerField(), "results": EscalatedCaseSerializer(many=True)},
            )
        }
    )
    def get(self, request):
        cases = list(escalated_cases()[:200])
        return Response(
            {"count": len(cases), "results": EscalatedCaseSerializer(cases, many=True, context={"request": request}).data}
        )


class EscalationDecisionApi(AdminReviewApi):
    """Settle an escalated case; the admin's decision is final."""

    @extend_schema(request=DecisionCreateSerializer, responses={201: ReviewDecisionSerializer})
    def post(self, request, pk: int):
        serializer = DecisionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decision = case_escalation_decide(
            case_id=pk,
            admin=request.user,
            decision=serializer.validated_data["decision"],
            note=serializer.validated_data.get("note", ""),
            reason_codes=serializer.validated_data.get("reason_codes", []),
        )
        return Response(ReviewDecisionSerializer(decision).data, status=status.HTTP_201_CREATED)


class CaseRequeueApi(AdminReviewApi):
    """Re-open a decided case for correction (`reason` required); its label is cleared until decided again."""

    @extend_schema(request=RequeueSerializer, responses={200: ReviewCaseSerializer})
    def post(self, request, pk: int):
        serializer = RequeueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        case = case_requeue(case_id=pk, admin=request.user, reason=serializer.validated_data.get("reason", ""))
        return Response(_case_data(request, case))
