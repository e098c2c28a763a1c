import io

import pytest
from django.contrib import auth
from django.core.management import CommandError, call_command

from messaging.seed import SEED_CONVERSATION_UUID
from users.models import User
from users.seeding import DEFAULT_SEED_PASSWORD, SEED_USERS

pytestmark = pytest.mark.django_db

SEED_HANDLES = {"andrewbrown", "bayko", "londo", "altbrown"}


@pytest.fixture(autouse=True)
def debug_on(settings):
    """The command as `make run` runs it (pytest-django turns DEBUG off)."""
    settings.DEBUG = True


def seed(*args, **options) -> str:
    out = io.StringIO()
    call_command("seed_users", *args, stdout=out, **options)
    return out.getvalue()


def snapshot():
    return sorted(
        User.objects.values_list(
            "uuid", "handle", "display_name", "email", "is_staff", "is_superuser", "password"
        )
    )


def test_seed_users_twice_gives_the_same_users():
    seed()
    first = snapshot()
    seed()
    assert snapshot() == first
    assert {row[1] for row in first} == SEED_HANDLES


def test_the_output_says_who_was_created_and_who_was_already_there():
    out = seed()
    assert out.count("created ") == 4
    assert "Created: @andrewbrown, @bayko, @londo, @altbrown; already there, " in out
    assert "left as they are: none." in out
    assert "--reset" not in out

    User.objects.get(handle="bayko").delete()
    out = seed()
    assert "created  @bayko" in out
    assert "exists   @andrewbrown" in out
    assert (
        "Created: @bayko; already there, left as they are: @andrewbrown, @londo, @altbrown." in out
    )
    assert "`seed_users --reset` sets them back to the seed values." in out


def test_andrewbrown_is_staff_and_superuser_others_are_not():
    seed()
    assert User.objects.get(handle="andrewbrown").is_superuser
    assert User.objects.get(handle="andrewbrown").is_staff
    assert not User.objects.filter(is_staff=True).exclude(handle="andrewbrown").exists()


def test_seed_users_get_their_fixed_uuids():
    seed()
    for seed_user in SEED_USERS:
        assert User.objects.get(handle=seed_user.handle).uuid == seed_user.uuid


def test_the_password_option_applies_to_the_users_it_creates():
    seed(password="another-secret-9")
    assert User.objects.get(handle="bayko").check_password("another-secret-9")


def test_missing_seed_users_are_created_and_the_others_left_alone():
    seed()
    User.objects.filter(handle__in=["londo", "altbrown"]).delete()
    User.objects.filter(handle="bayko").update(display_name="Bayko Renamed")

    seed(password="fresh-secret-7")

    assert set(User.objects.values_list("handle", flat=True)) == SEED_HANDLES
    assert User.objects.get(handle="londo").check_password("fresh-secret-7")
    assert User.objects.get(handle="altbrown").check_password("fresh-secret-7")
    bayko = User.objects.get(handle="bayko")
    assert bayko.display_name == "Bayko Renamed"
    assert bayko.check_password(DEFAULT_SEED_PASSWORD)


def admin_edits():
    """What an admin might do between two `make run`s."""
    andrew = User.objects.get(handle="andrewbrown")
    andrew.display_name = "Andrew B."
    andrew.set_password("my-own-password-3")
    andrew.save()
    londo = User.objects.get(handle="londo")
    londo.is_active = False
    londo.save()
    bayko = User.objects.get(handle="bayko")
    bayko.handle = "bayko_renamed"  # the seed user by its uuid, under a new handle
    bayko.save()


def test_a_second_run_keeps_admin_edits():
    seed()
    admin_edits()
    before = snapshot()

    out = seed()

    assert snapshot() == before  # the password hashes included: nothing was saved
    andrew = User.objects.get(handle="andrewbrown")
    assert andrew.display_name == "Andrew B."
    assert andrew.check_password("my-own-password-3")
    assert not User.objects.get(handle="londo").is_active
    assert not User.objects.filter(handle="bayko").exists()
    assert "exists   @bayko_renamed" in out
    assert "created" not in out.split("Created:")[0]


def test_a_second_run_keeps_the_seed_users_logged_in(client):
    seed()
    andrew = User.objects.get(handle="andrewbrown")
    client.force_login(andrew)
    assert client.get("/accounts/settings/").status_code == 200

    seed()

    assert auth.get_user(client).is_authenticated
    assert client.get("/accounts/settings/").status_code == 200


def test_reset_restores_the_seed_values():
    seed()
    admin_edits()
    User.objects.filter(handle="altbrown").update(is_staff=True)

    out = seed("--reset")

    assert set(User.objects.values_list("handle", flat=True)) == SEED_HANDLES
    for seed_user in SEED_USERS:
        user = User.objects.get(uuid=seed_user.uuid)
        assert user.handle == seed_user.handle
        assert user.display_name == seed_user.display_name
        assert user.email == seed_user.email
        assert user.is_active
        assert user.is_staff == user.is_superuser == seed_user.is_admin
        assert user.check_password(DEFAULT_SEED_PASSWORD)
    assert out.count("reset    @") == 4
    assert "Created: none; reset to the seed values: @andrewbrown, @bayko, @londo, " in out


def test_reset_with_a_password_sets_it_on_every_seed_user():
    seed()
    seed("--reset", password="another-secret-9")
    for handle in SEED_HANDLES:
        assert User.objects.get(handle=handle).check_password("another-secret-9")


def test_reset_logs_the_seed_users_out(client):
    seed()
    client.force_login(User.objects.get(handle="andrewbrown"))

    seed("--reset")

    assert not auth.get_user(client).is_authenticated


def test_an_existing_account_with_a_seed_handle_in_another_case_is_the_seed_user(make_user):
    existing = make_user("Londo", display_name="Someone Else")
    seed()
    londo = User.objects.get(handle__iexact="londo")
    assert londo.uuid == existing.uuid
    assert londo.display_name == "Someone Else"

    seed("--reset")
    londo = User.objects.get(handle__iexact="londo")
    assert londo.uuid == existing.uuid
    assert (londo.handle, londo.display_name) == ("londo", "Londo Mollari")


def test_a_seed_email_held_by_another_account_is_a_clear_error(make_user):
    make_user("someone", email="Bayko@example.com")
    with pytest.raises(CommandError, match="Cannot create @bayko: @someone already uses"):
        seed()


def test_with_debug_off_creating_seed_users_needs_a_password(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="published in the README: .* --password <password>"):
        seed()
    assert not User.objects.exists()

    seed(password="a-secret-of-our-own-3")
    assert User.objects.get(handle="andrewbrown").check_password("a-secret-of-our-own-3")


def test_with_debug_off_reset_needs_a_password(settings):
    seed(password="a-secret-of-our-own-3")
    settings.DEBUG = False
    with pytest.raises(CommandError, match="published in the README"):
        seed("--reset")
    assert User.objects.get(handle="andrewbrown").check_password("a-secret-of-our-own-3")

    # A run that sets no password (nothing missing, no reset) needs none.
    assert "already there, left as they are: @andrewbrown" in seed()
    seed("--reset", password="another-secret-9")
    assert User.objects.get(handle="andrewbrown").check_password("another-secret-9")


def test_seed_users_empty_password_is_refused():
    with pytest.raises(CommandError, match="--password"):
        seed(password="")


def test_the_seed_conversation_follows_renamed_seed_users(memory_store):
    # make run seeds the conversation on every start: an admin's rename must not stop it.
    call_command("seed_users", stdout=io.StringIO())
    User.objects.filter(handle="andrewbrown").update(handle="andrew_renamed")

    call_command("ddb_seed", stdout=io.StringIO())

    renamed = User.objects.get(handle="andrew_renamed")
    inbox = memory_store.list_conversations(user_uuid=str(renamed.uuid)).items
    assert [entry.conversation_uuid for entry in inbox] == [SEED_CONVERSATION_UUID]
