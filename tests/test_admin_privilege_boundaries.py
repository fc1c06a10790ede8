"""The app's admin role manages the app, not Django's privileges: walked through /admin/ as an app
admin trying to grant superuser or staff, edit permissions, take over a superuser's account, or
read API tokens. Only a superuser can grant those bits; tokens are never listed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from rest_framework.authtoken.models import Token

from aiornot_site.roles import ADMINS, REVIEWERS

pytestmark = pytest.mark.django_db


def _change_form(user, **fields) -> dict:
    """The user change form as a browser would post it, plus ``fields``."""
    return {
        "username": user.username,
        "first_name": "", "last_name": "", "email": "",
        "is_active": "on",
        "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
        "last_login_0": "", "last_login_1": "",
        **fields,
    }


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", password="pw-root")


def test_an_app_admin_posting_is_superuser_on_is_refused(web, site_admin, submitter):
    client = web.login_as(site_admin)
    url = reverse("admin:auth_user_change", args=[submitter.pk])
    page = client.get(url).content.decode()
    assert 'name="is_superuser"' not in page and 'name="is_staff"' not in page and 'name="user_permissions"' not in page

    perm = Permission.objects.get(codename="change_user")
    response = client.post(url, _change_form(
        submitter, is_superuser="on", is_staff="on", user_permissions=[perm.pk],
        groups=[Group.objects.get(name=REVIEWERS).pk],
    ))
    assert response.status_code == 302  # the role change is saved...
    submitter.refresh_from_db()
    assert not submitter.is_superuser and not submitter.is_staff  # ...the privileges are not
    assert not submitter.user_permissions.exists()
    assert set(submitter.groups.values_list("name", flat=True)) == {REVIEWERS}


def test_an_app_admin_cannot_put_a_user_in_a_group_that_is_not_a_role(web, site_admin, submitter):
    ops = Group.objects.create(name="ops")
    ops.permissions.add(Permission.objects.get(codename="change_user"))
    response = web.login_as(site_admin).post(
        reverse("admin:auth_user_change", args=[submitter.pk]), _change_form(submitter, groups=[ops.pk])
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not submitter.groups.filter(name="ops").exists()


def test_an_app_admin_cannot_change_a_superuser_or_set_their_password(web, site_admin, superuser):
    client = web.login_as(site_admin)
    response = client.post(
        reverse("admin:auth_user_change", args=[superuser.pk]), _change_form(superuser, is_active="")
    )
    assert response.status_code == 403
    password_url = reverse("admin:auth_user_password_change", args=[superuser.pk])
    assert client.get(password_url).status_code == 403
    assert client.post(password_url, {"password1": "taken-over-42!", "password2": "taken-over-42!"}).status_code == 403
    superuser.refresh_from_db()
    assert superuser.is_active and superuser.check_password("pw-root")


def test_an_app_admin_cannot_change_another_staff_account(web, site_admin, django_user_model):
    other = django_user_model.objects.create_user("bea", password="pw-bea", is_staff=True)
    other.groups.add(Group.objects.get(name=ADMINS))
    client = web.login_as(site_admin)
    assert client.post(reverse("admin:auth_user_change", args=[other.pk]), _change_form(other)).status_code == 403
    assert client.get(reverse("admin:auth_user_password_change", args=[other.pk])).status_code == 403


def test_a_user_added_by_an_app_admin_is_never_a_superuser(web, site_admin, django_user_model):
    response = web.login_as(site_admin).post(reverse("admin:auth_user_add"), {
        "username": "newbie", "usable_password": "true", "password1": "a-long-passphrase-42",
        "password2": "a-long-passphrase-42", "is_superuser": "on", "is_staff": "on",
    })
    assert response.status_code == 302
    newbie = django_user_model.objects.get(username="newbie")
    assert not newbie.is_superuser and not newbie.is_staff


def test_api_tokens_are_not_listed_in_the_admin_even_for_a_superuser(web, superuser, submitter):
    token = Token.objects.create(user=submitter)
    client = web.login_as(superuser)
    index = client.get(reverse("admin:index")).content.decode()
    assert "authtoken" not in index and token.key not in index
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 404
    assert token.key not in client.get(reverse("admin:auth_user_change", args=[submitter.pk])).content.decode()


def test_a_superuser_still_grants_staff(web, superuser, submitter):
    response = web.login_as(superuser).post(
        reverse("admin:auth_user_change", args=[submitter.pk]), _change_form(submitter, is_staff="on")
    )
    assert response.status_code == 302
    submitter.refresh_from_db()
    assert submitter.is_staff
