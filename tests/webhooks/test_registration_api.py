"""Integrators register callback URLs through the API; only public http(s) addresses are accepted."""

import pytest

from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db


def test_client_registers_a_callback_and_sees_the_secret_only_once(api_for, submitter, receiver):
    api = api_for(submitter)
    response = api.post("/api/v1/webhooks/", {"url": receiver.url}, format="json")
    assert response.status_code == 201
    created = response.json()
    assert created["url"] == receiver.url
    assert created["events"] == ["case.decided"]
    assert created["is_active"] is True and created["owner"] == submitter.username
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40

    listed = api.get("/api/v1/webhooks/").json()
    assert [item["id"] for item in listed["results"]] == [created["id"]]
    detail = api.get(f"/api/v1/webhooks/{created['id']}/").json()
    assert "secret" not in detail and "secret" not in listed["results"][0]
    assert created["secret"] not in str(listed) + str(detail)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1:8080/hook", "webhook_url_not_public"),
        ("http://localhost:8080/hook", "webhook_url_not_public"),
        ("http://169.254.169.254/latest/meta-data/", "webhook_url_not_public"),
        ("http://[::1]:9000/hook", "webhook_url_not_public"),
        ("http://10.0.0.5/hook", "webhook_url_not_public"),
        ("ftp://example.org/hook", "webhook_url_scheme_not_allowed"),
        ("file:///etc/passwd", "webhook_url_scheme_not_allowed"),
        ("gopher://example.org:70/", "webhook_url_scheme_not_allowed"),
        ("https://user:password@example.org/hook", "webhook_url_invalid"),
        ("http://example.org:22/hook", "webhook_url_port_not_allowed"),
        ("not a url", "webhook_url_invalid"),
    ],
)
def test_callback_urls_that_are_not_public_web_addresses_are_refused(api_for, submitter, url, code):
    response = api_for(submitter).post("/api/v1/webhooks/", {"url": url}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert not WebhookEndpoint.objects.exists()


def test_the_allow_list_admits_a_local_receiver_but_not_the_metadata_service(api_for, submitter, settings):
    settings.AIORNOT_URL_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    api = api_for(submitter)
    assert api.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:8080/hook"}, format="json").status_code == 201
    response = api.post("/api/v1/webhooks/", {"url": "http://169.254.169.254/"}, format="json")
    assert response.json()["error"]["code"] == "webhook_url_not_public"


def test_missing_url_or_unknown_event_is_a_bad_request(api_for, submitter, receiver):
    api = api_for(submitter)
    assert api.post("/api/v1/webhooks/", {}, format="json").json()["error"]["code"] == "invalid_request"
    response = api.post("/api/v1/webhooks/", {"url": receiver.url, "events": ["case.opened"]}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


def test_an_endpoint_of_another_user_is_invisible(api_for, register, submitter, other_submitter, site_admin, receiver):
    endpoint = register(submitter, receiver.url)
    other = api_for(other_submitter)
    assert other.get("/api/v1/webhooks/").json()["results"] == []
    for path in (f"/api/v1/webhooks/{endpoint['id']}/", f"/api/v1/webhooks/{endpoint['id']}/deliveries/"):
        response = other.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert other.delete(f"/api/v1/webhooks/{endpoint['id']}/").status_code == 404
    assert WebhookEndpoint.objects.get(pk=endpoint["id"]).is_active

    admin = api_for(site_admin)
    assert [item["id"] for item in admin.get("/api/v1/webhooks/").json()["results"]] == [endpoint["id"]]
    assert "secret" not in admin.get(f"/api/v1/webhooks/{endpoint['id']}/").json()


def test_only_site_admins_may_receive_every_case(api_for, submitter, site_admin, receiver):
    response = api_for(submitter).post("/api/v1/webhooks/", {"url": receiver.url, "all_cases": True}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    response = api_for(site_admin).post("/api/v1/webhooks/", {"url": receiver.url, "all_cases": True}, format="json")
    assert response.status_code == 201 and response.json()["all_cases"] is True


def test_a_user_without_a_role_cannot_register(api_for, no_role_user, receiver):
    response = api_for(no_role_user).post("/api/v1/webhooks/", {"url": receiver.url}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"


def test_the_same_url_is_registered_once_per_user_and_the_number_of_endpoints_is_capped(
    api_for, register, submitter, receiver, settings
):
    settings.AIORNOT_WEBHOOK_MAX_ENDPOINTS_PER_USER = 2
    api = api_for(submitter)
    first = register(submitter, receiver.url)
    response = api.post("/api/v1/webhooks/", {"url": receiver.url}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "webhook_url_already_registered"
    register(submitter, receiver.url + "&second=1")
    response = api.post("/api/v1/webhooks/", {"url": receiver.url + "&third=1"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "webhook_limit_reached"
    assert api.delete(f"/api/v1/webhooks/{first['id']}/").status_code == 204
    register(submitter, receiver.url)  # a deactivated endpoint frees its place and its URL


def test_deleting_an_endpoint_deactivates_it(api_for, register, submitter, receiver):
    endpoint = register(submitter, receiver.url)
    api = api_for(submitter)
    assert api.delete(f"/api/v1/webhooks/{endpoint['id']}/").status_code == 204
    assert api.get(f"/api/v1/webhooks/{endpoint['id']}/").json()["is_active"] is False
    assert api.delete(f"/api/v1/webhooks/{endpoint['id']}/").status_code == 204


def test_anonymous_clients_are_refused(client):
    response = client.get("/api/v1/webhooks/")
    assert response.status_code in (401, 403) and "error" in response.json()


def test_openapi_schema_documents_the_webhook_endpoints(api_for, submitter):
    response = api_for(submitter).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = response.json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/webhooks/"])
    assert {"get", "delete"} <= set(paths["/api/v1/webhooks/{id}/"])
    assert "get" in paths["/api/v1/webhooks/{id}/deliveries/"]
    assert "post" in paths["/api/v1/webhooks/{id}/deliveries/{delivery_pk}/redeliver/"]


def test_admin_lists_endpoints_and_deliveries_read_only_without_the_secret(client, django_user_model, register, submitter, receiver):
    endpoint = register(submitter, receiver.url)
    superuser = django_user_model.objects.create_superuser(username="root", password="pw-root")
    client.force_login(superuser)
    assert receiver.url in client.get("/admin/webhooks/webhookendpoint/").content.decode()
    page = client.get(f"/admin/webhooks/webhookendpoint/{endpoint['id']}/change/")
    assert page.status_code == 200 and endpoint["secret"] not in page.content.decode()
    assert client.get("/admin/webhooks/webhookendpoint/add/").status_code == 403
    assert client.get("/admin/webhooks/webhookdelivery/").status_code == 200
