"""REST API for webhook endpoints and their deliveries: one small view per endpoint."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from aiornot_site.api_errors import ApiError
from aiornot_site.roles import is_site_admin, is_submitter

from .selectors import delivery_get_for_endpoint, deliveries_of_endpoint, endpoint_get_for_user, endpoints_visible_to
from .serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointSerializer,
)
from .services import delivery_redeliver, webhook_endpoint_create, webhook_endpoint_deactivate

TAGS = ["webhooks"]


class CanRegisterWebhooks(BasePermission):
    message = "Your account may not register webhooks. Ask an administrator for the submitter role."

    def has_permission(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return is_submitter(request.user) or is_site_admin(request.user)


def _endpoint_or_404(request, pk: int):
    endpoint = endpoint_get_for_user(user=request.user, endpoint_id=pk)
    if endpoint is None:
        raise ApiError("not_found", "No such webhook endpoint.", status.HTTP_404_NOT_FOUND)
    return endpoint


class WebhookEndpointListCreateApi(generics.ListAPIView):
    """List your webhook endpoints, or register a callback URL (its secret is shown only here)."""

    serializer_class = WebhookEndpointSerializer
    permission_classes = generics.ListAPIView.permission_classes + [CanRegisterWebhooks]

    def get_queryset(self):
        return endpoints_visible_to(self.request.user)

    @extend_schema(tags=TAGS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        request=WebhookEndpointCreateSerializer,
        responses={
            201: WebhookEndpointCreatedSerializer,
            400: OpenApiResponse(description="Invalid request, or a URL that is not a public http(s) address "
                                             "(webhook_url_not_public, webhook_url_scheme_not_allowed, ...)"),
            403: OpenApiResponse(description="all_cases asked for by someone who is not a site admin"),
            409: OpenApiResponse(description="This URL is already registered, or too many active endpoints"),
        },
    )
    def post(self, request):
        serializer = WebhookEndpointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint, _secret = webhook_endpoint_create(
            owner=request.user, url=data["url"], events=data["events"], all_cases=data["all_cases"]
        )
        return Response(WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailApi(APIView):
    """One webhook endpoint (without its secret); DELETE deactivates it."""

    @extend_schema(tags=TAGS, responses={200: WebhookEndpointSerializer})
    def get(self, request, pk: int):
        return Response(WebhookEndpointSerializer(_endpoint_or_404(request, pk)).data)

    @extend_schema(
        tags=TAGS,
        responses={204: OpenApiResponse(description="Deactivated: nothing more is sent; its deliveries are kept")},
    )
    def delete(self, request, pk: int):
        webhook_endpoint_deactivate(endpoint=_endpoint_or_404(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListApi(generics.ListAPIView):
    """The deliveries of one endpoint, newest first, with every attempt."""

    serializer_class = WebhookDeliverySerializer

    def get_queryset(self):
        return deliveries_of_endpoint(endpoint=_endpoint_or_404(self.request, self.kwargs["pk"]))

    @extend_schema(tags=TAGS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class WebhookRedeliverApi(APIView):
    """Send a failed delivery again (same id and payload, new signature, fresh retry schedule)."""

    @extend_schema(
        tags=TAGS,
        request=None,
        responses={
            202: WebhookDeliverySerializer,
            404: OpenApiResponse(description="No such endpoint or delivery"),
            409: OpenApiResponse(description="The delivery has not failed, or the endpoint is deactivated"),
        },
    )
    def post(self, request, pk: int, delivery_pk: int):
        endpoint = _endpoint_or_404(request, pk)
        delivery = delivery_get_for_endpoint(endpoint=endpoint, delivery_id=delivery_pk)
        if delivery is None:
            raise ApiError("not_found", "No such delivery.", status.HTTP_404_NOT_FOUND)
        delivery = delivery_redeliver(delivery=delivery)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
