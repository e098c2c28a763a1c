"""Synthetic data for the benchmark: deterministic users and conversations at a given size.

Every process builds the same data from the same size (a seeded random generator): the seed
command writes the users to the database and the conversations to DynamoDB; the in-memory
server loads the same conversations into its store.

Shape: `clients` benchmark users (`bench0`, `bench1`, ...), one per concurrent client, each
with `inbox` conversations; the newest is its *main* conversation, `long` messages long, the
one the conversation, page-3 and send scenarios use. Other people's conversations fill the rest.

    python -m bench.seed --size S     # DJANGO_SETTINGS_MODULE=bench.settings, env as in run.py
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median

from messaging.domain import NewMessage, UserRef

PASSWORD = "bench-password-2026"

# fmt: off
_FIRST = ["Ada", "Bea", "Cyd", "Dov", "Eli", "Fay", "Gus", "Hal", "Ida", "Jun", "Kai", "Lea",
          "Max", "Nia", "Oto", "Pia", "Rex", "Sia", "Tom", "Uma"]
_LAST = ["Brown", "Bayko", "Mollari", "Sheridan", "Ivanova", "Garibaldi", "Franklin", "Delenn",
         "Lennier", "Vir"]
_WORDS = [
    "the", "a", "to", "and", "you", "it", "is", "that", "for", "on", "in", "we", "can", "do",
    "have", "this", "be", "with", "not", "are", "just", "about", "what", "was", "so", "at", "all",
    "will", "get", "like", "know", "if", "up", "out", "there", "one", "now", "see", "how", "time",
    "when", "think", "good", "yes", "no", "tomorrow", "later", "meeting", "lunch", "code",
    "deploy", "table", "query", "page", "inbox", "message", "thanks", "sounds", "great", "sure",
    "maybe", "tonight", "weekend", "ship", "review", "merge", "test", "coffee", "call",
]
# fmt: on


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
    size.name: size
    for size in (
        Size("S", messages=1_000, users=100, inbox=22, long=64, others_mean=2, filler_mean=15),
        # Between the two: the size `make run` reaches after a while (docs/BENCHMARKS.md).
        Size("M", messages=10_000, users=500, inbox=40, long=300, others_mean=10, filler_mean=40),
        Size(
            "L",
            messages=100_000,
            users=2_000,
            inbox=60,
            long=1_000,
            others_mean=40,
            filler_mean=100,
        ),  # fmt: skip
        # A few seconds end to end: tests/integration/test_bench_smoke.py.
        Size("smoke", messages=300, users=30, inbox=21, long=45, others_mean=2, filler_mean=10),
    )
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
            "message_text_bytes_median": median(lengths),
        }


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _text(rng: random.Random) -> str:
    # Chat-sized: mostly one short sentence, sometimes a few (median ~50 bytes, max ~300).
    words = min(60, max(1, int(rng.lognormvariate(2.2, 0.6))))
    sentence = " ".join(rng.choice(_WORDS) for _ in range(words))
    return sentence[0].upper() + sentence[1:] + rng.choice(".!?")


def _conversation(rng: random.Random, people: tuple[UserRef, UserRef], count: int, end: datetime):
    moments = [end]
    for _ in range(count - 1):
        gap = timedelta(seconds=rng.randint(5, 3600), microseconds=rng.randint(0, 999_999))
        moments.append(moments[-1] - gap)
    messages = []
    for moment in reversed(moments):  # the draws in this order: the data depends on it
        message_uuid, sender = _uuid(rng), rng.choice(people)
        messages.append(NewMessage(message_uuid, sender, _text(rng), created_at=moment))
    return Conversation(_uuid(rng), people, tuple(messages))


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
    others = list(users[clients:])
    older = (datetime(2025, 1, 10, tzinfo=UTC), datetime(2025, 10, 1, tzinfo=UTC))

    def older_end() -> datetime:
        return older[0] + timedelta(seconds=rng.uniform(0, (older[1] - older[0]).total_seconds()))

    conversations, mains, pairs = [], [], set()
    for number, me in enumerate(users[:clients]):
        for index, partner in enumerate(rng.sample(others, size.inbox)):
            pairs.add(frozenset((me.uuid, partner.uuid)))
            if index == 0:  # the main conversation: the newest in this inbox
                end = datetime(2025, 12, 31, 23, 0, tzinfo=UTC) - timedelta(minutes=number)
                conversations.append(_conversation(rng, (me, partner), size.long, end))
                mains.append(conversations[-1].group_uuid)
            else:
                count = _count(rng, size.others_mean)
                conversations.append(_conversation(rng, (me, partner), count, older_end()))
    budget = size.messages - sum(len(c.messages) for c in conversations)
    while budget > 0:
        first, second = rng.sample(others, 2)
        if frozenset((first.uuid, second.uuid)) in pairs:
            continue
        pairs.add(frozenset((first.uuid, second.uuid)))
        count = min(budget, _count(rng, size.filler_mean))
        conversations.append(_conversation(rng, (first, second), count, older_end()))
        budget -= count
    return Dataset(size, users, tuple(conversations), tuple(mains))


def load_into(store, dataset: Dataset, *, threads: int = 1) -> None:
    """Import every conversation with the store's idempotent bulk import."""

    def load(conversation: Conversation) -> None:
        store.import_conversation(
            conversation_uuid=conversation.group_uuid,
            participants=conversation.participants,
            messages=list(conversation.messages),
        )

    # Threads overlap DynamoDB's round trips; the in-memory store gains nothing from them.
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(load, dataset.conversations))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Seed the benchmark's database and DynamoDB.")
    parser.add_argument("--size", choices=sorted(SIZES), required=True, help="Dataset size.")
    parser.add_argument("--clients", type=int, default=8, help="Benchmark users to create.")
    parser.add_argument("--threads", type=int, default=4, help="Concurrent imports.")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.models import Session
    from django.core.management import call_command

    from messaging.dynamo import get_dynamo_store, schema
    from users.models import User

    dataset = build(SIZES[args.size], clients=args.clients)
    call_command("migrate", verbosity=0, interactive=False)
    Session.objects.all().delete()
    User.objects.all().delete()
    password = make_password(PASSWORD)  # hashed once: PBKDF2 per user would dominate
    User.objects.bulk_create(
        User(uuid=ref.uuid, handle=ref.handle, display_name=ref.display_name,
             email=f"{ref.handle}@example.com", email_verified=True, password=password)
        for ref in dataset.users
    )  # fmt: skip
    store = get_dynamo_store()  # DynamoDB whatever MESSAGE_STORE says: the emulator's data
    schema.create(store.table)
    load_into(store, dataset, threads=args.threads)
    print(json.dumps({**dataset.stats(), "main_conversations": list(dataset.main_conversations)}))


if __name__ == "__main__":
    main()
