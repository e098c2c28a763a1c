"""The current password asked again behind a session (users/reauth.py): changing the password,
changing the email address in Settings, deleting the account. Wrong tries are throttled like
logins, per person, so a borrowed session cannot guess the password."""

from types import SimpleNamespace

import pytest
from django.core.cache import cache

from cruddur import limits
from tests.helpers import signed_in
from users.reauth import WRONG_PASSWORDS

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-42"  # make_user's
NEW_PASSWORD = "minbari-cruiser-77"
COOL_OFF = 15 * 60


@pytest.fixture(autouse=True)
def _early_in_a_window(monkeypatch):
    # The counters' windows are fixed (cruddur/limits.py): each test runs 10 seconds into
    # one, so that no test straddles two, whatever the clock says.
    start = 2_000_000 * COOL_OFF
    monkeypatch.setattr(limits, "time", SimpleNamespace(time=lambda: start + 10.0))


def change_password(client, old):
    data = {"old_password": old, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    return client.post("/accounts/password_change/", data)


def change_email(client, user, current_password):
    data = {
        "section": "profile",
        "handle": user.handle,
        "display_name": "Typed Name",
        "bio": user.bio,
        "email": "new-address@example.com",
        "current_password": current_password,
        "time_zone": user.time_zone,
    }
    return client.post("/accounts/settings/", data)


def delete_account(client, password):
    return client.post("/accounts/delete/", {"password": password})


TRIES = {
    "password change": lambda client, user, password: change_password(client, password),
    "email change": change_email,
    "account deletion": lambda client, user, password: delete_account(client, password),
}


def unchanged(user) -> bool:
    user.refresh_from_db()
    return (
        user.check_password(PASSWORD)
        and user.email == "andrewbrown@example.com"
        and user.display_name == "Andrew Brown"
        and user.is_active
        and user.deleted_at is None
    )


def assert_paused(response):
    assert response.status_code == 429
    assert response["Retry-After"] == str(COOL_OFF - 10)  # until the window ends
    assert "checking your password is paused: try again in 15 minutes." in (
        response.content.decode()
    )


@pytest.mark.parametrize("what", TRIES)
def test_after_the_limit_of_wrong_passwords_even_the_right_one_is_paused(
    settings, andrew, bayko, what
):
    client, try_password = signed_in(andrew), TRIES[what]
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert try_password(client, andrew, "not-my-password").status_code == 200

    paused = try_password(client, andrew, PASSWORD)

    assert_paused(paused)
    assert unchanged(andrew)
    # The pause is that person's: someone else's right password works.
    assert try_password(signed_in(bayko), bayko, PASSWORD).status_code == 302


def test_the_paused_settings_form_keeps_what_was_typed(settings, andrew):
    client = signed_in(andrew)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        change_email(client, andrew, "not-my-password")

    page = change_email(client, andrew, PASSWORD).content.decode()

    assert 'value="new-address@example.com"' in page
    assert 'value="Typed Name"' in page


def test_the_three_forms_share_one_count(settings, andrew):
    client = signed_in(andrew)
    tries = list(TRIES.values())
    for number in range(settings.AXES_FAILURE_LIMIT):
        tries[number % 3](client, andrew, "not-my-password")

    for try_password in tries:
        assert_paused(try_password(client, andrew, PASSWORD))
    assert unchanged(andrew)


def test_only_wrong_passwords_count_and_tries_while_paused_are_not_counted(settings, andrew):
    client = signed_in(andrew)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        change_password(client, "not-my-password")
    for _ in range(3):  # the right current password, a new one that does not match: no count
        right = client.post(
            "/accounts/password_change/",
            {"old_password": PASSWORD, "new_password1": "a-1", "new_password2": "b-2"},
        )
        assert right.status_code == 200
        assert "old_password" not in right.context["form"].errors
    change_password(client, "not-my-password")  # the limit's last
    for _ in range(3):
        assert_paused(change_password(client, "still-not-it"))

    key, _ = limits._window(WRONG_PASSWORDS, str(andrew.pk), limits.time.time())
    assert cache.get(key) == settings.AXES_FAILURE_LIMIT  # the paused tries added nothing
