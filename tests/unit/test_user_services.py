"""The writes on users (users/services.py): profile updates and blocks, as any caller makes
them (the settings page: test_account_settings.py; deleting an account: there and
tests/integration/test_cognito.py)."""

import pytest
from django.core.exceptions import ValidationError

from users import services
from users.models import Block, HandleHold, User, WhoMayStart

pytestmark = pytest.mark.django_db


def update(user, **changes):
    fields = {
        "handle": user.handle,
        "display_name": user.display_name,
        "bio": user.bio,
        "email": user.email,
        "time_zone": user.time_zone,
        **changes,
    }
    return services.update_profile(user=user, **fields)


def test_update_profile_saves_every_field(andrew):
    email_changed = update(
        andrew, display_name="Andy", bio="Hi.", time_zone="Europe/Paris", handle="andy"
    )

    stored = User.objects.get(pk=andrew.pk)
    assert (stored.handle, stored.display_name, stored.bio, stored.time_zone) == (
        "andy",
        "Andy",
        "Hi.",
        "Europe/Paris",
    )
    assert email_changed is False
    assert list(HandleHold.objects.values_list("handle", "user")) == [("andrewbrown", andrew.pk)]


def test_a_new_address_is_unverified_another_capitalisation_is_not_new(andrew):
    andrew.email_verified = True
    andrew.save()

    assert update(andrew, email="ANDREWBROWN@example.com") is False
    assert User.objects.get(pk=andrew.pk).email_verified

    assert update(andrew, email="new@example.com") is True
    stored = User.objects.get(pk=andrew.pk)
    assert (stored.email, stored.email_verified) == ("new@example.com", False)


def test_the_stored_row_decides_what_changed_not_the_instance(andrew):
    # A bound ModelForm copies the typed values onto the instance before the view saves.
    andrew.email_verified = True
    andrew.save()
    andrew.handle, andrew.email = "andy", "new@example.com"

    assert update(andrew) is True
    assert not User.objects.get(pk=andrew.pk).email_verified
    assert HandleHold.objects.get().handle == "andrewbrown"


def test_a_capitalisation_change_holds_nothing(andrew):
    update(andrew, handle="AndrewBrown")

    assert User.objects.get(pk=andrew.pk).handle == "AndrewBrown"
    assert not HandleHold.objects.exists()


def test_set_messaging_settings(andrew):
    services.set_messaging_settings(
        user=andrew, who_may_start=WhoMayStart.KNOWN, email_unread=False, email_unread_delay=300
    )

    saved = User.objects.get(pk=andrew.pk)
    assert saved.who_may_start == WhoMayStart.KNOWN
    assert (saved.email_unread, saved.email_unread_delay) == (False, 300)


def test_blocking_twice_is_one_block_and_unblocking_lifts_it(andrew, bayko):
    services.block(user=andrew, other=bayko)
    services.block(user=andrew, other=bayko)
    assert list(Block.objects.values_list("blocker", "blocked")) == [(andrew.pk, bayko.pk)]

    services.unblock(user=andrew, other=bayko)
    services.unblock(user=andrew, other=bayko)  # nothing left: nothing to do
    assert not Block.objects.exists()


def test_no_one_blocks_themselves(andrew):
    with pytest.raises(ValidationError, match="You can't block yourself."):
        services.block(user=andrew, other=andrew)
    assert not Block.objects.exists()
