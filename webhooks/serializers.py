from rest_framework import serializers

from .models import CASE_DECIDED, EVENTS, WebhookDelivery, WebhookEndpoint


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2048, help_text="http(s) URL of a public host; it receives signed POSTs")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENTS), required=False, allow_empty=False, default=[CASE_DECIDED]
    )
    all_cases = serializers.BooleanField(
        required=False, default=False, help_text="Site admins only: be told about every decided case"
    )


class WebhookEndpointSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id", "owner", "url", "events", "all_cases", "is_active", "created_at", "last_success_at",
            "failure_count",
        ]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    """The endpoint as registered, with its signing secret: the only time the secret is shown."""

    secret = serializers.SerializerMethodField()

    class Meta(WebhookEndpointSerializer.Meta):
        fields = WebhookEndpointSerializer.Meta.fields + ["secret"]

    def get_secret(self, obj) -> str:
        return obj.secret


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "endpoint", "event", "case", "status", "attempts", "last_status_code", "last_error",
            "next_attempt_at", "created_at", "delivered_at", "payload", "attempt_log",
        ]
