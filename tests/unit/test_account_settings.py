"""Your account: the settings page's profile and time zone, and deleting the account (the
password views: test_password.py; the purge of a deleted person's messages:
tests/integration/test_purge_user.py)."""

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from messaging import services
from tests.helpers import conversation_url, seed, signed_in, signup, token
from tests.unit.test_live_views import Thread

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "correct-horse-42"  # make_user's


def profile_form(user, **changes):
    data = {
        "section": "profile",
        "handle": user.handle,
        "display_name": user.display_name,
        "bio": user.bio,
        "email": user.email,
        "time_zone": user.time_zone,
        **changes,
    }
    return data


def save_profile(client, user, **changes):
    return client.post("/accounts/settings/", profile_form(user, **changes))


def field_value(html: str, name: str) -> str:
    found = re.search(rf'<(?:input|textarea)[^>]*name="{name}"[^>]*>', html)
    value = re.search(r'value="([^"]*)"', found.group(0)) if found else None
    return value.group(1) if value else ""


# --- the profile ---


def test_each_profile_field_is_saved_and_shown(memory_store, andrew, bayko):
    seed(memory_store, andrew, bayko, texts=["hi"])
    client = signed_in(andrew)

    response = save_profile(
        client,
        andrew,
        display_name="Andy B",
        bio="Builds things.",
        time_zone="Europe/Paris",
        handle="andy",
    )

    assert response.status_code == 302
    andrew.refresh_from_db()
    assert (andrew.handle, andrew.display_name, andrew.bio, andrew.time_zone) == (
        "andy",
        "Andy B",
        "Builds things.",
        "Europe/Paris",
    )
    page = client.get("/accounts/settings/").content.decode()
    assert "Your profile is saved." in page
    assert field_value(page, "time_zone") == "Europe/Paris"
    assert "<strong>Andy B</strong>" in page  # the header
    # At once wherever the name appears, for everyone (the cached profile was dropped).
    assert "Andy B" in signed_in(bayko).get("/messages/").content.decode()
    assert "@andy" in signed_in(bayko).get("/messages/").content.decode()


def test_the_old_handle_no_longer_reaches_them_and_says_where_they_went(
    memory_store, andrew, bayko
):
    save_profile(signed_in(andrew), andrew, handle="andy")

    response = signed_in(bayko).get("/messages/new/andrewbrown/")

    assert response.status_code == 404
    assert "@andrewbrown changed their handle" in response.content.decode()
    assert signed_in(bayko).get("/messages/new/andy/").status_code == 200


@pytest.mark.parametrize(
    ("changes", "field", "error"),
    [
        ({"handle": "bayko"}, "handle", "That handle is already taken."),
        ({"handle": "Support"}, "handle", "That handle is reserved. Please choose another."),
        ({"handle": "no spaces"}, "handle", "A handle may contain only letters"),
        ({"display_name": "\u200b\u202e"}, "display_name", "Enter the name people will see."),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "Choose a time zone from the list"),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
    ],
)
def test_invalid_profile_input_is_kept_with_its_error(andrew, bayko, changes, field, error):
    client = signed_in(andrew)
    before = User.objects.values().get(pk=andrew.pk)

    response = save_profile(client, andrew, **changes)

    html = response.content.decode()
    assert response.status_code == 200
    assert error in html
    [value] = changes.values()
    if field != "display_name":  # (invisible characters are shown as typed, by the browser)
        assert field_value(html, field) == value
    assert User.objects.values().get(pk=andrew.pk) == before
    assert f"<strong>{andrew.display_name}</strong>" in html  # the header: the saved name


def test_changing_the_email_asks_for_the_password(andrew, bayko):
    bayko.email_verified = True  # an address someone verified is theirs
    bayko.save()
    client = signed_in(andrew)

    refused = save_profile(client, andrew, email="new@example.com", current_password="wrong")
    taken = save_profile(client, andrew, email="BAYKO@example.com", current_password=PASSWORD)
    changed = save_profile(client, andrew, email="new@example.com", current_password=PASSWORD)

    assert "Enter your current password to change your email address." in refused.content.decode()
    assert field_value(refused.content.decode(), "email") == "new@example.com"
    assert "An account with this email address already exists." in taken.content.decode()
    assert changed.status_code == 302
    andrew.refresh_from_db()
    assert andrew.email == "new@example.com"


def test_an_unknown_section_changes_nothing(andrew):
    response = signed_in(andrew).post("/accounts/settings/", {"section": "is_staff"})

    assert response.status_code == 302
    andrew.refresh_from_db()
    assert not andrew.is_staff


def test_settings_link_to_the_password_change_and_to_leaving(andrew):
    page = signed_in(andrew).get("/accounts/settings/").content.decode()

    assert 'href="/accounts/password_change/"' in page
    assert 'href="/accounts/delete/"' in page


def test_settings_need_a_login():
    assert Client().get("/accounts/settings/").status_code == 302


# --- time zones ---


def test_times_are_shown_in_the_viewer_s_time_zone(memory_store, andrew, bayko):
    moment = datetime(2026, 3, 3, 23, 30, tzinfo=UTC)
    group = seed(memory_store, andrew, bayko, texts=["late"], start=moment)
    client = signed_in(andrew)

    utc = client.get(conversation_url(group)).content.decode()
    save_profile(client, andrew, time_zone="Asia/Tokyo")
    tokyo = client.get(conversation_url(group)).content.decode()
    inbox = client.get("/messages/").content.decode()

    assert 'datetime="2026-03-03T23:30:00+00:00"' in utc
    assert "Tuesday 3 March 2026, 23:30 UTC" in utc
    assert 'datetime="2026-03-04T08:30:00+09:00"' in tokyo
    assert "Wednesday 4 March 2026, 08:30 JST" in tokyo
    assert 'datetime="2026-03-04T08:30:00+09:00"' in inbox
    # The keys stay UTC.
    [message] = memory_store.list_messages(conversation_uuid=group).items
    assert message.sort_key.startswith("2026-03-03T23:30:00")


def test_live_updates_use_the_viewer_s_time_zone(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    andrew.time_zone = "America/New_York"
    andrew.save()
    thread = Thread(signed_in(andrew), group)
    services.send_message(sender=bayko, conversation_uuid=group, text="new one")

    fragment = thread.poll().content.decode()

    assert "new one" in fragment
    assert re.search(r'datetime="[^"]+-0[45]:00"', fragment)  # EST or EDT, not UTC


def test_sign_up_keeps_the_browser_s_time_zone():
    signup(time_zone="Europe/Lisbon")
    signup(handle="other", email="o@example.com", time_zone="Nowhere/Land")

    assert User.objects.get(handle="newperson").time_zone == "Europe/Lisbon"
    assert User.objects.get(handle="other").time_zone == ""  # unknown: UTC


# --- deleting the account ---


def test_deleting_needs_the_password(andrew):
    client = signed_in(andrew)
    assert "This cannot be undone." in client.get("/accounts/delete/").content.decode()

    response = client.post("/accounts/delete/", {"password": "wrong"})

    assert response.status_code == 200
    assert "That is not your password." in response.content.decode()
    andrew.refresh_from_db()
    assert andrew.is_active and andrew.deleted_at is None


def test_deleting_scrubs_retires_and_logs_out_everywhere(memory_store, andrew, bayko):
    group = seed(memory_store, andrew, bayko, texts=["hi", "bye"])
    andrew.bio, andrew.cognito_user_id = "About me", "sub-123"
    andrew.save()
    here, elsewhere = signed_in(andrew), signed_in(andrew)

    response = here.post("/accounts/delete/", {"password": PASSWORD})

    assert response.status_code == 302
    andrew.refresh_from_db()
    assert (andrew.display_name, andrew.email, andrew.bio) == ("", "", "")
    # The sub stays until Cognito confirms its user is deleted (no pool configured here:
    # `cognito_sync` finishes it; tests/integration/test_cognito.py).
    assert andrew.cognito_user_id == "sub-123"
    assert not andrew.is_active and andrew.deleted_at is not None
    assert not andrew.has_usable_password()
    for client in (here, elsewhere):
        assert client.get("/messages/").status_code == 302  # to the login page
    login = Client().post("/accounts/login/", {"username": "andrewbrown", "password": PASSWORD})
    assert login.status_code == 200 and "Please enter a correct handle" in login.content.decode()
    # The other person keeps the conversation, with "Deleted user" and no reply box.
    page = signed_in(bayko).get(conversation_url(group)).content.decode()
    assert "Deleted user" in page and "andrewbrown" not in page and "Andrew Brown" not in page
    assert "This account was deleted." in page and "<textarea" not in page
    refused = signed_in(bayko).post(conversation_url(group), {"text": "hello?", "token": token()})
    assert refused.status_code == 403
    # The handle stays taken; the email address is free again.
    again = signup(handle="AndrewBrown", email="andrewbrown@example.com")
    assert "That handle is already taken." in again.content.decode()
    assert "email" not in again.context["form"].errors


def test_the_admin_deletes_accounts_the_same_way(memory_store, andrew, bayko, londo):
    admin = signed_in(andrew)  # andrew is not staff: make him
    andrew.is_staff = andrew.is_superuser = True
    andrew.save()
    admin = signed_in(andrew)
    victim_session = signed_in(bayko)

    response = admin.post(
        "/admin/users/user/",
        {"action": "delete_accounts", "_selected_action": [str(bayko.pk), str(andrew.pk)]},
    )

    assert response.status_code == 302
    bayko.refresh_from_db()
    andrew.refresh_from_db()
    assert bayko.deleted_at is not None and bayko.display_name == "" and not bayko.is_active
    assert andrew.deleted_at is None  # not yourself
    assert victim_session.get("/messages/").status_code == 302
