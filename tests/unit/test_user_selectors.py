"""The reads on users (users/selectors.py): people by handle, a renamed person's new handle,
whom someone blocked, the deleted accounts whose clean-up is left."""

import pytest

from users import selectors, services

pytestmark = pytest.mark.django_db


def test_find_user_is_case_insensitive_and_ignores_at(andrew, make_user):
    make_user("gone", is_active=False)

    assert selectors.find_user(handle="@AndrewBrown") == andrew
    assert selectors.find_user(handle=" andrewbrown ") == andrew
    assert selectors.find_user(handle="gone") is None
    assert selectors.find_user(handle="@") is None


def rename(user, handle):
    services.update_profile(
        user=user,
        handle=handle,
        display_name=user.display_name,
        bio=user.bio,
        email=user.email,
        time_zone=user.time_zone,
    )


def test_renamed_to_finds_who_left_a_handle_while_it_is_held(andrew, bayko):
    rename(andrew, "andy")
    rename(bayko, "baykoB")
    bayko.is_active = False
    bayko.save()

    assert selectors.renamed_to(handle="@AndrewBrown") == andrew
    assert selectors.renamed_to(handle="andy") is None  # in use, not held
    assert selectors.renamed_to(handle="bayko") is None  # held for a deactivated account
    assert selectors.renamed_to(handle="nobody") is None


def test_blocked_by_lists_the_latest_block_first(andrew, bayko, londo):
    services.block(user=andrew, other=bayko)
    services.block(user=andrew, other=londo)
    services.block(user=bayko, other=andrew)

    assert selectors.blocked_by(user=andrew) == [londo, bayko]
    assert selectors.blocked_by(user=londo) == []


def test_deleted_accounts_not_purged_oldest_deletion_first(andrew, bayko, londo, make_user):
    services.delete_account(londo)
    services.delete_account(andrew)
    purged = make_user("purged")
    services.delete_account(purged)
    services.record_messages_purged(purged)

    assert list(selectors.deleted_accounts_not_purged()) == [londo, andrew]
    assert purged.messages_purged_at is not None
    assert list(selectors.pending_cognito_deletions()) == []  # none was linked
