"""Login throttling (django-axes): a cool-off after repeated failures, by handle and by IP."""

import pytest
from axes.models import AccessAttempt
from django.test import Client

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-42"  # conftest's make_user


def attempt(client, handle, password="wrong-password", **extra):
    return client.post("/accounts/login/", {"username": handle, "password": password}, **extra)


def test_five_failures_pause_logins_even_with_the_right_password(settings, andrew):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "andrewbrown").status_code == 200  # the form, with its error

    locked = attempt(client, "andrewbrown")
    right = attempt(client, "andrewbrown", PASSWORD)

    for response in (locked, right):
        assert response.status_code == 429
        assert response["Retry-After"] == str(15 * 60)
        page = response.content.decode()
        assert "try again in 15 minutes" in page
        assert 'value="andrewbrown"' in page  # what was typed is kept
    assert "_auth_user_id" not in client.session


def test_any_spelling_of_the_handle_counts_as_the_same_person(settings, andrew):
    # Each from its own address, so that only the handle can add them up.
    spellings = ["andrewbrown", "AndrewBrown", "@andrewbrown", " ANDREWBROWN", "andrewBrown"]
    for number, handle in enumerate(spellings):
        attempt(Client(REMOTE_ADDR=f"10.0.1.{number}"), handle)
    assert attempt(Client(REMOTE_ADDR="10.0.2.1"), "andrewbrown", PASSWORD).status_code == 429


def test_one_address_trying_many_handles_is_paused(settings, andrew, make_user):
    for i in range(settings.AXES_FAILURE_LIMIT):
        make_user(f"user{i}")
        attempt(Client(), f"user{i}")
    assert attempt(Client(), "andrewbrown", PASSWORD).status_code == 429
    other_address = attempt(Client(REMOTE_ADDR="10.0.0.9"), "andrewbrown", PASSWORD)
    assert other_address.status_code == 302


def test_a_success_before_the_limit_starts_the_count_again(settings, andrew):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "andrewbrown")
    assert attempt(client, "andrewbrown", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "andrewbrown")
    assert attempt(client, "andrewbrown", PASSWORD).status_code == 302


def test_the_admin_lifts_the_pause(settings, andrew, make_user):
    admin = make_user("admin_person", is_staff=True, is_superuser=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(Client(REMOTE_ADDR="10.0.0.7"), "andrewbrown")
    assert attempt(Client(REMOTE_ADDR="10.0.0.8"), "andrewbrown", PASSWORD).status_code == 429
    staff = Client()
    staff.force_login(admin)
    listing = staff.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    attempts = list(AccessAttempt.objects.values_list("pk", flat=True))
    assert attempts

    staff.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": attempts, "post": "yes"},
    )

    assert not AccessAttempt.objects.exists()
    assert attempt(Client(REMOTE_ADDR="10.0.0.8"), "andrewbrown", PASSWORD).status_code == 302


def test_behind_the_proxy_the_address_is_the_one_the_proxy_saw(settings, andrew):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(Client(), "nobody", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5")
    # Same proxy (REMOTE_ADDR), another client address: not paused.
    other = attempt(Client(), "andrewbrown", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert other.status_code == 302
