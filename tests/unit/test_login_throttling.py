"""Login throttling (django-axes, users/lockout.py): a cool-off after repeated failures for a
handle from one address, from one address across handles, and for a handle from anywhere past
a much higher ceiling that never stops the owner at an address they logged in from. Tries while
paused are not counted; a completed password reset lifts the handle's pause."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.test import Client

from users.lockout import handle_of

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-42"  # conftest's make_user
NEW_PASSWORD = "minbari-cruiser-77"


def attempt(client, handle, password="wrong-password", **extra):
    return client.post("/accounts/login/", {"username": handle, "password": password}, **extra)


def test_five_failures_pause_logins_even_with_the_right_password(settings, andrew):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "andrewbrown").status_code == 200  # the form, with its error

    locked = attempt(client, "andrewbrown")
    right = attempt(client, "andrewbrown", PASSWORD)

    assert locked["Retry-After"] == str(15 * 60)  # from this failure: the whole cool-off
    assert 0 < int(right["Retry-After"]) <= 15 * 60  # the same end, a moment later
    for response in (locked, right):
        assert response.status_code == 429
        page = response.content.decode()
        assert "try again in 15 minutes" in page
        assert 'value="andrewbrown"' in page  # what was typed is kept
    assert "_auth_user_id" not in client.session


def test_any_spelling_of_the_handle_counts_as_the_same_person(settings, andrew):
    # The handle's ceiling (from anywhere) lowered to the limit: each failure from its own
    # address, so that only the handle can add them up. (Was: a pause at 5 from anywhere,
    # the owner's own address included.)
    settings.LOGIN_HANDLE_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT
    spellings = ["andrewbrown", "AndrewBrown", "@andrewbrown", " ANDREWBROWN", "andrewBrown"]
    for number, handle in enumerate(spellings):
        attempt(Client(REMOTE_ADDR=f"10.0.1.{number}"), handle)
    assert attempt(Client(REMOTE_ADDR="10.0.2.1"), "andrewbrown", PASSWORD).status_code == 429


def test_one_address_trying_many_handles_is_paused(settings, andrew, make_user):
    for i in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT):
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
    assert attempt(Client(REMOTE_ADDR="10.0.0.7"), "andrewbrown", PASSWORD).status_code == 429
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
    assert attempt(Client(REMOTE_ADDR="10.0.0.7"), "andrewbrown", PASSWORD).status_code == 302


def test_behind_the_proxy_the_address_is_the_one_the_proxy_saw(settings, andrew):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(Client(), "nobody", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5")
    # Same proxy (REMOTE_ADDR), another client address: not paused.
    other = attempt(Client(), "andrewbrown", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert other.status_code == 302


# --- a stranger cannot keep the owner out ---


def fail_from(address, handle="andrewbrown", times=1):
    for _ in range(times):
        attempt(Client(REMOTE_ADDR=address), handle)


def test_a_stranger_s_failures_pause_their_address_not_the_owner(settings, andrew):
    fail_from("203.0.113.9", times=settings.AXES_FAILURE_LIMIT)

    stranger = attempt(Client(REMOTE_ADDR="203.0.113.9"), "andrewbrown", PASSWORD)
    owner = attempt(Client(REMOTE_ADDR="198.51.100.20"), "andrewbrown", PASSWORD)

    assert stranger.status_code == 429  # that (handle, address) is paused, even rightly
    assert owner.status_code == 302  # from an address the owner never used before, even


def test_guessing_from_many_addresses_meets_the_handle_s_ceiling_but_not_the_owner_at_home(
    settings, andrew
):
    home = Client(REMOTE_ADDR="192.0.2.10")
    assert attempt(home, "andrewbrown", PASSWORD).status_code == 302  # a login from home
    home.post("/accounts/logout/")
    per_address = settings.AXES_FAILURE_LIMIT - 1  # each address stays under its own limit
    ceiling = settings.LOGIN_HANDLE_FAILURE_LIMIT
    assert ceiling == 100  # the default
    for number in range(-(-ceiling // per_address)):
        fail_from(f"10.1.{number // 250}.{number % 250}", times=per_address)

    new_device = attempt(Client(REMOTE_ADDR="198.51.100.30"), "andrewbrown", PASSWORD)
    at_home = attempt(Client(REMOTE_ADDR="192.0.2.10"), "andrewbrown", PASSWORD)

    assert new_device.status_code == 429  # the ceiling: a device the owner never used
    assert "try again in" in new_device.content.decode()
    assert at_home.status_code == 302  # strangers' failures never stop the owner at home


def test_tries_while_paused_are_not_counted_and_do_not_move_its_end(settings, andrew):
    client = Client()
    fail_from("127.0.0.1", times=settings.AXES_FAILURE_LIMIT)
    recorded = list(AccessAttempt.objects.values_list("failures_since_start", "attempt_time"))

    for password in ("wrong-again", PASSWORD, "and-again"):
        assert attempt(client, "andrewbrown", password).status_code == 429
    assert list(AccessAttempt.objects.values_list("failures_since_start", "attempt_time")) == (
        recorded
    )

    # 14 minutes later (the failures moved back in time, not the clock): one minute left.
    cool_off = settings.AXES_COOLOFF_TIME
    AccessAttempt.objects.update(attempt_time=recorded[0][1] - cool_off + timedelta(minutes=1))
    almost = attempt(client, "andrewbrown", PASSWORD)
    assert almost.status_code == 429
    assert 0 < int(almost["Retry-After"]) <= 60
    assert "try again in 1 minute." in almost.content.decode()

    AccessAttempt.objects.update(attempt_time=recorded[0][1] - cool_off - timedelta(seconds=1))
    assert attempt(client, "andrewbrown", PASSWORD).status_code == 302


def test_a_completed_password_reset_lifts_the_handle_s_pause(settings, andrew):
    here = Client(REMOTE_ADDR="192.0.2.44")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(here, "AndrewBrown")
    assert attempt(here, "andrewbrown", PASSWORD).status_code == 429

    here.post("/accounts/password_reset/", {"email": andrew.email})
    (link,) = [line for line in mail.outbox[0].body.split() if "/accounts/reset/" in line]
    set_password_url = here.get(link)["Location"]
    done = here.post(
        set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done.status_code == 302

    assert not AccessAttempt.objects.filter(username="andrewbrown").exists()
    assert attempt(here, "andrewbrown", NEW_PASSWORD).status_code == 302


# --- what a stranger types is bounded before anything is looked up or written ---


@pytest.mark.parametrize("length", [31, 256, 10_000, 50_000])
def test_an_over_long_handle_is_a_form_error(make_user, length):
    handle = "a" * length

    response = attempt(Client(), handle, PASSWORD)

    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["username"] == ["A handle has at most 30 characters. Check what you typed."]
    assert f'value="{handle}"' in response.content.decode()  # what was typed is kept
    assert not AccessAttempt.objects.exists()  # authenticate() never ran
    longest = make_user("h" * 30)  # with its "@", one more: still a handle
    assert attempt(Client(), f"@{longest.handle}", PASSWORD).status_code == 302


def test_the_handle_recorded_for_a_failure_always_fits(rf):
    request = rf.post("/accounts/login/", {"username": "x" * 1000})
    assert len(handle_of(request, None)) == 255
    assert len(handle_of(request, {"username": "@" + "Y" * 300})) == 255
