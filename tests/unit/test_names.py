"""Names no one can squat: handles kept for a while after their owner renamed away (links with
them say where the owner went), reserved handles and display names after normalising, and a
bounded bio shown to people starting a conversation (users/names.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.helpers import signed_in, signup
from tests.unit.test_account_settings import save_profile
from users.models import HandleHold, User
from users.names import skeleton

pytestmark = pytest.mark.django_db


def rename(user, handle):
    response = save_profile(signed_in(user), user, handle=handle)
    user.refresh_from_db()
    return response


def test_a_renamed_away_handle_cannot_be_taken_by_someone_else(andrew, bayko):
    assert rename(andrew, "andy").status_code == 302

    taken_at_signup = signup(handle="AndrewBrown", email="someone@example.com")
    taken_in_settings = rename(bayko, "andrewbrown")

    for response in (taken_at_signup, taken_in_settings):
        assert response.status_code == 200
        assert "That handle was in use until recently" in response.content.decode()
    assert not User.objects.filter(handle__lower="andrewbrown").exists()
    assert bayko.handle == "bayko"


def test_its_owner_can_take_it_back_and_the_hold_ends_after_the_setting(settings, andrew):
    rename(andrew, "andy")
    assert rename(andrew, "andrewbrown").status_code == 302
    assert andrew.handle == "andrewbrown"
    assert list(HandleHold.objects.values_list("handle", flat=True)) == ["andy"]

    HandleHold.objects.update(held_until=timezone.now() - timedelta(seconds=1))
    assert signup(handle="andy", email="andy@example.org").status_code == 302


def test_a_hold_lasts_handle_hold_days(settings, andrew):
    settings.HANDLE_HOLD_DAYS = 7
    rename(andrew, "andy")
    hold = HandleHold.objects.get()
    assert hold.user == andrew
    expected = timezone.now() + timedelta(days=7)
    assert abs(hold.held_until - expected) < timedelta(minutes=1)


def test_a_link_with_the_old_handle_says_where_its_owner_went(andrew, bayko):
    rename(andrew, "andy")

    response = signed_in(bayko).get("/messages/new/andrewbrown/")

    page = response.content.decode()
    assert response.status_code == 404
    assert "@andrewbrown changed their handle" in page
    assert 'href="/messages/new/andy/"' in page


def test_the_admin_renaming_someone_holds_the_old_handle_too(andrew, bayko):
    admin = User.objects.create_superuser("boss", "boss@example.com", "pw-long-enough-42")
    client = signed_in(admin)
    page = client.get(f"/admin/users/user/{bayko.pk}/change/")
    assert page.status_code == 200
    data = {
        "handle": "bayko2000",
        "display_name": bayko.display_name,
        "email": bayko.email,
        "bio": "",
        "time_zone": "",
        "who_may_start": bayko.who_may_start,
        "is_active": "on",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "cognito_user_id": "",
    }
    response = client.post(f"/admin/users/user/{bayko.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert HandleHold.objects.get().handle == "bayko"


@pytest.mark.parametrize(
    "handle",
    ["admin_", "Adm1n", "a_d_m_i_n", "admin2", "r00t", "SUPPORT_", "deleted_user", "m0d", "ma1l"],
)
def test_reserved_handles_match_after_normalising(handle):
    response = signup(handle=handle)
    assert response.status_code == 200
    assert "That handle is reserved" in response.content.decode()


@pytest.mark.parametrize("handle", ["mali", "melanie", "adminton", "rooted", "modest"])
def test_names_that_only_start_like_a_reserved_one_are_free(handle):
    assert signup(handle=handle).status_code == 302


@pytest.mark.parametrize(
    "name",
    [
        "Deleted user",
        "DELETED USER",
        "deleted_user",
        "Deactivated",
        "Cruddur Support",
        "Adm1n",
        "ｓｕｐｐｏｒｔ",
        "System.",
    ],
)
def test_display_names_that_pass_for_the_site_or_a_gone_account_are_refused(andrew, name):
    response = save_profile(signed_in(andrew), andrew, display_name=name)

    assert response.status_code == 200
    assert "That name is reserved" in response.content.decode()
    andrew.refresh_from_db()
    assert andrew.display_name == "Andrew Brown"
    assert signup(display_name=name).status_code == 200


def test_skeleton_reads_look_alikes_as_letters():
    assert skeleton("Adm_1n_") == skeleton("adm1n") == skeleton("ADM1N42") == "adm1n"
    assert skeleton("R00T") == skeleton("root") == "root"


def test_the_bio_is_bounded_and_kept_when_too_long(andrew):
    long_bio = "x" * 301

    response = save_profile(signed_in(andrew), andrew, bio=long_bio)

    page = response.content.decode()
    assert response.status_code == 200
    assert "Ensure this value has at most 300 characters (it has 301)." in page
    assert long_bio in page  # what was typed is kept
    andrew.refresh_from_db()
    assert andrew.bio == ""
    assert save_profile(signed_in(andrew), andrew, bio="x" * 1_000_000).status_code == 200


def test_the_bio_is_shown_to_people_starting_a_conversation(andrew, bayko, memory_store):
    rename(andrew, "andrewbrown")  # nothing changes
    save_profile(signed_in(andrew), andrew, bio="Builds <things>.")

    page = signed_in(bayko).get("/messages/new/andrewbrown/").content.decode()

    assert '<p class="bio">Builds &lt;things&gt;.</p>' in page
