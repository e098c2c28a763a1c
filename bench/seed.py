"""Synthetic data for the benchmark: deterministic users and conversations at a given size.

Every process builds the same data from the same size (a seeded random generator): the seed
command writes the users to the database and the conversations to DynamoDB, and each
in-memory server loads the same conversations into its fake gateway.

Shape: `clients` benchmark users (`bench0`, `bench1`, ...), one per concurrent client. Each
has `inbox` conversations with other people; the newest is its *main* conversation, `long`
messages long, the one the conversation, page-3 and send scenarios use. Other people's
conversations fill the rest of the message budget.

    python -m bench.seed --size S     # DJANGO_SETTINGS_MODULE=bench.settings, env as in run.py
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import mean, median

from messaging.domain import NewMessage, UserRef

PASSWORD = "bench-password-2026"

_FIRST = [
    "Ada",
    "Bea",
    "Cyd",
    "Dov",
    "Eli",
    "Fay",
    "Gus",
    "Hal",
    "Ida",
    "Jun",
    "Kai",
    "Lea",
    "Max",
    "Nia",
    "Oto",
    "Pia",
    "Rex",
    "Sia",
    "Tom",
    "Uma",
]
_LAST = [
    "Brown",
    "Bayko",
    "Mollari",
    "Sheridan",
    "Ivanova",
    "Garibaldi",
    "Franklin",
    "Delenn",
    "Lennier",
    "Vir",
]
_WORDS = [
    "the",
    "a",
    "to",
    "and",
    "you",
    "it",
    "is",
    "that",
    "for",
    "on",
    "in",
    "we",
    "can",
    "do",
    "have",
    "this",
    "be",
    "with",
    "not",
    "are",
    "just",
    "about",
    "what",
    "was",
    "so",
    "at",
    "all",
    "will",
    "get",
    "like",
    "know",
    "if",
    "up",
    "out",
    "there",
    "one",
    "now",
    "see",
    "how",
    "time",
    "when",
    "think",
    "good",
    "yes",
    "no",
    "tomorrow",
    "later",
    "meeting",
    "lunch",
    "code",
    "deploy",
    "table",
    "query",
    "page",
    "inbox",
    "message",
    "thanks",
    "sounds",
    "great",
    "sure",
    "maybe",
    "tonight",
    "weekend",
    "ship",
    "review",
    "merge",
    "test",
    "coffee",
    "call",
]


@dataclass(frozen=True)
class Size:
    name: str
    messages: int  # about this many messages in all
    users: int
    inbox: int  # conversations per benchmark user (a page is 20)
    long: int  # messages in each benchmark user's main conversation
    others_mean: int  # mean messages in a benchmark user's other conversations
    filler_mean: int  # mean messages in the conversations between other people


SIZES = {
    "S": Size("S", messages=1_000, users=100, inbox=22, long=64, others_mean=2, filler_mean=15),
    "L": Size(
        "L", messages=100_000, users=2_000, inbox=60, long=1_000, others_mean=40, filler_mean=100
    ),
    # A few seconds end to end: tests/test_bench_smoke.py.
    "smoke": Size(
        "smoke", messages=300, users=30, inbox=21, long=45, others_mean=2, filler_mean=10
    ),
}


@dataclass(frozen=True)
class Conversation:
    group_uuid: str
    participants: tuple[UserRef, UserRef]
    messages: tuple[NewMessage, ...]


@dataclass(frozen=True)
class Dataset:
    size: Size
    users: tuple[UserRef, ...]  # benchmark users first
    conversations: tuple[Conversation, ...]
    main_conversations: tuple[str, ...]  # the group uuid of each benchmark user's main one

    @property
    def message_count(self) -> int:
        return sum(len(conversation.messages) for conversation in self.conversations)

    def stats(self) -> dict[str, float]:
        lengths = [len(message.text.encode()) for c in self.conversations for message in c.messages]
        return {
            "messages": len(lengths),
            "users": len(self.users),
            "conversations": len(self.conversations),
            "inbox_conversations_per_bench_user": self.size.inbox,
            "main_conversation_messages": self.size.long,
            "message_text_bytes_mean": round(mean(lengths), 1),
            "message_text_bytes_median": median(lengths),
            "message_text_bytes_max": max(lengths),
        }


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _text(rng: random.Random) -> str:
    # Chat-sized: mostly one short sentence, sometimes a few (median ~50 bytes, max ~300).
    words = min(60, max(1, int(rng.lognormvariate(2.2, 0.6))))
    sentence = " ".join(rng.choice(_WORDS) for _ in range(words))
    return sentence[0].upper() + sentence[1:] + rng.choice(".!?")


def _messages(
    rng: random.Random, people: tuple[UserRef, UserRef], count: int, *, end: datetime
) -> tuple[NewMessage, ...]:
    moments = [end]
    for _ in range(count - 1):
        gap = timedelta(seconds=rng.randint(5, 3600), microseconds=rng.randint(0, 999_999))
        moments.append(moments[-1] - gap)
    return tuple(
        NewMessage(
            message_uuid=_uuid(rng),
            sender=rng.choice(people),
            text=_text(rng),
            created_at=moment,
        )
        for moment in reversed(moments)
    )


def _count(rng: random.Random, mean_count: int) -> int:
    return max(1, round(rng.expovariate(1 / mean_count)))


def build(size: Size, *, clients: int) -> Dataset:
    """The dataset for `size` with `clients` benchmark users: the same every time."""
    if size.users - clients < size.inbox:
        raise ValueError(f"Size {size.name}: too few users for {clients} inboxes.")
    rng = random.Random(f"cruddur-bench-{size.name}-{clients}")
    users = tuple(
        UserRef(
            uuid=_uuid(rng),
            handle=f"bench{n}" if n < clients else f"user{n:05d}",
            display_name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
        )
        for n in range(size.users)
    )
    bench_users, others = users[:clients], list(users[clients:])
    year_end = datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    older = (datetime(2025, 1, 10, tzinfo=UTC), datetime(2025, 10, 1, tzinfo=UTC))

    def older_end() -> datetime:
        span = (older[1] - older[0]).total_seconds()
        return older[0] + timedelta(seconds=rng.uniform(0, span))

    conversations: list[Conversation] = []
    mains: list[str] = []
    pairs: set[frozenset[str]] = set()
    for number, me in enumerate(bench_users):
        partners = rng.sample(others, size.inbox)
        for index, partner in enumerate(partners):
            people = (me, partner)
            pairs.add(frozenset((me.uuid, partner.uuid)))
            if index == 0:  # the main conversation: the newest in this inbox
                end = year_end - timedelta(minutes=number)
                messages = _messages(rng, people, size.long, end=end)
            else:
                messages = _messages(rng, people, _count(rng, size.others_mean), end=older_end())
            conversations.append(Conversation(_uuid(rng), people, messages))
            if index == 0:
                mains.append(conversations[-1].group_uuid)

    budget = size.messages - sum(len(c.messages) for c in conversations)
    while budget > 0:
        first, second = rng.sample(others, 2)
        if frozenset((first.uuid, second.uuid)) in pairs:
            continue
        pairs.add(frozenset((first.uuid, second.uuid)))
        count = min(budget, _count(rng, size.filler_mean))
        messages = _messages(rng, (first, second), count, end=older_end())
        conversations.append(Conversation(_uuid(rng), (first, second), messages))
        budget -= count
    return Dataset(size, users, tuple(conversations), tuple(mains))


def load_into(gateway, dataset: Dataset, *, threads: int = 1) -> None:
    """Import every conversation with the gateway's idempotent bulk import."""

    def load(conversation: Conversation) -> None:
        gateway.import_conversation(
            conversation_uuid=conversation.group_uuid,
            participants=conversation.participants,
            messages=list(conversation.messages),
        )

    if threads == 1:
        for conversation in dataset.conversations:
            load(conversation)
        return
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(load, dataset.conversations))


def _users_in_database(dataset: Dataset) -> None:
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.models import Session

    from users.models import User

    Session.objects.all().delete()
    User.objects.all().delete()
    password = make_password(PASSWORD)  # hashed once: PBKDF2 per user would dominate
    User.objects.bulk_create(
        User(
            uuid=ref.uuid,
            handle=ref.handle,
            display_name=ref.display_name,
            email=f"{ref.handle}@example.com",
            password=password,
        )
        for ref in dataset.users
    )


def _iter_phases(dataset: Dataset, threads: int) -> Iterator[tuple[str, float]]:
    from django.core.management import call_command

    from messaging.dynamo import get_dynamo_store as get_store
    from messaging.dynamo import schema

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    yield "migrate_seconds", time.perf_counter() - started

    started = time.perf_counter()
    _users_in_database(dataset)
    yield "users_seconds", time.perf_counter() - started

    started = time.perf_counter()
    gateway = get_store()
    schema.create(gateway.table)
    load_into(gateway, dataset, threads=threads)
    yield "dynamodb_seconds", time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Seed the benchmark's database and DynamoDB.")
    parser.add_argument("--size", choices=sorted(SIZES), required=True, help="Dataset size.")
    parser.add_argument("--clients", type=int, default=8, help="Benchmark users to create.")
    parser.add_argument("--threads", type=int, default=4, help="Concurrent imports.")
    args = parser.parse_args(argv)

    import django

    django.setup()
    started = time.perf_counter()
    dataset = build(SIZES[args.size], clients=args.clients)
    report: dict[str, object] = {"build_seconds": round(time.perf_counter() - started, 2)}
    for phase, seconds in _iter_phases(dataset, args.threads):
        report[phase] = round(seconds, 2)
    report.update(dataset.stats())
    report["main_conversations"] = list(dataset.main_conversations)
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
