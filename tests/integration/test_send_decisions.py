"""Whether one person may write to another is decided on the database as committed, never
on the display cache: a page read racing a block, a deactivation or a deletion must not let
the next send through (users.profiles.current_profiles)."""

import threading

import pytest
from django.core.cache import cache
from django.db import connections, transaction

from messaging import services
from tests.helpers import seed
from users.models import Block
from users.profiles import _cached, _key, profiles

pytestmark = pytest.mark.django_db(transaction=True)


def read_profiles_during(write, *user_uuids):
    """Run `write` in a transaction; before it commits, another thread (another request)
    reads and caches the profiles."""
    written, read = threading.Event(), threading.Event()

    def page():
        try:
            assert written.wait(10)
            profiles(user_uuids)
            read.set()
        finally:
            connections.close_all()

    reader = threading.Thread(target=page)
    reader.start()
    with transaction.atomic():
        write()
        written.set()
        assert read.wait(10)
    reader.join(10)


def test_a_page_read_between_a_block_and_its_commit_cannot_reenable_sending(
    memory_store, make_user
):
    andrew, bayko = make_user("andrewbrown"), make_user("bayko")
    group = seed(memory_store, andrew, bayko, texts=["hi"])

    read_profiles_during(
        lambda: Block.objects.create(blocker=andrew, blocked=bayko), andrew.uuid, bayko.uuid
    )

    assert profiles([andrew.uuid])[andrew.uuid].has_blocked(bayko.uuid)  # dropped on commit
    with pytest.raises(services.SendRefused, match="not accepting messages"):
        services.send_message(sender=bayko, conversation_uuid=group, text="let me explain")


def test_a_send_is_refused_even_while_the_cache_shows_the_old_profile(memory_store, make_user):
    andrew, bayko = make_user("andrewbrown"), make_user("bayko")
    group = seed(memory_store, andrew, bayko, texts=["hi"])
    before = profiles([andrew.uuid, bayko.uuid])
    andrew.is_active = False
    andrew.save()
    cache.set(_key(andrew.uuid), _cached(before[andrew.uuid]), 3600)  # as an outage leaves it
    with pytest.raises(services.SendRefused, match="deactivated"):
        services.send_message(sender=bayko, conversation_uuid=group, text="hello?")

    andrew.is_active = True
    andrew.save()
    Block.objects.create(blocker=bayko, blocked=andrew)
    cache.set(_key(bayko.uuid), _cached(before[bayko.uuid]), 3600)
    with pytest.raises(services.SendRefused, match="You blocked"):
        services.send_message(sender=bayko, conversation_uuid=group, text="hello?")
