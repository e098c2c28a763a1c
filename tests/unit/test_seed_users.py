import pytest
from django.core.management import CommandError, call_command

from users.models import User
from users.services import DEFAULT_SEED_PASSWORD

pytestmark = pytest.mark.django_db

SEED_HANDLES = {"andrewbrown", "bayko", "londo", "altbrown"}


def snapshot():
    return sorted(
        User.objects.values_list(
            "uuid", "handle", "display_name", "email", "is_staff", "is_superuser"
        )
    )


def test_seed_users_twice_gives_the_same_users(capsys):
    call_command("seed_users")
    first = snapshot()
    call_command("seed_users")
    assert snapshot() == first
    assert {row[1] for row in first} == SEED_HANDLES
    assert "updated" in capsys.readouterr().out


def test_andrewbrown_is_staff_and_superuser_others_are_not():
    call_command("seed_users")
    assert User.objects.get(handle="andrewbrown").is_superuser
    assert User.objects.get(handle="andrewbrown").is_staff
    assert not User.objects.filter(is_staff=True).exclude(handle="andrewbrown").exists()


def test_seed_password_default_and_option():
    call_command("seed_users")
    assert User.objects.get(handle="bayko").check_password(DEFAULT_SEED_PASSWORD)
    call_command("seed_users", password="another-secret-9")
    assert User.objects.get(handle="bayko").check_password("another-secret-9")


def test_seed_users_keeps_an_existing_account_with_that_handle(make_user):
    existing = make_user("Londo", display_name="Someone Else")
    call_command("seed_users")
    londo = User.objects.get(handle__iexact="londo")
    assert londo.uuid == existing.uuid
    assert londo.display_name == "Londo Mollari"


def test_seed_users_empty_password_is_refused():
    with pytest.raises(CommandError, match="--password"):
        call_command("seed_users", password="")
