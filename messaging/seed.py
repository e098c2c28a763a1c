"""The seed conversation between andrewbrown and bayko.

It straddles midnight on New Year's Eve on purpose: the original filtered sort keys with
`begins_with(sk, <year>)`, which hid exactly such a conversation on 1 January. The times and
message uuids are fixed, so seeding twice writes the same items.
"""

import uuid
from datetime import UTC, datetime, timedelta

from users.seeding import SEED_USERS, find_seed_user

from .domain import NewMessage, UserRef
from .store import get_store

SEED_CONVERSATION_UUID = "5ae290ed-55d1-47a0-bc6d-fe2bc2700399"
SEED_HANDLES = ("andrewbrown", "bayko")
SEED_START = datetime(2025, 12, 31, 23, 14, 25, tzinfo=UTC)

# (speaker, text): "a" is andrewbrown, "b" is bayko.
SEED_LINES = [
    ("a", "Still at the desk on New Year's Eve? The inbox finally loads from DynamoDB."),
    ("b", "Of course. Somebody has to watch the logs while the fireworks happen."),
    ("a", "Quick question: why does every conversation need two group items?"),
    ("b", "One per participant. Your inbox is a query on GRP# plus your uuid."),
    ("a", "So when I send, both of those items move to the new sort key?"),
    ("b", "Yes, and it has to happen together with the message write, or an inbox lies."),
    ("a", "That is what the transaction is for. Put the message, swap both groups."),
    ("b", "With conditions, so two people sending at once cannot trample each other."),
    ("a", "And if the condition fails we read again and retry. Cheap enough."),
    ("b", "Much cheaper than a support ticket titled 'my messages vanished'."),
    ("a", "Speaking of vanishing: the old code filtered sort keys by the current year."),
    ("b", "Which works beautifully until the first of January."),
    ("a", "Which is in about half an hour."),
    ("b", "Perfect timing for a test, then. Keep typing after midnight."),
    ("a", "Deal. Did you settle on a format for the timestamps?"),
    ("b", "UTC, fixed width, microseconds always there. Strings sort like time."),
    ("a", "No local offsets? My laptop thinks it lives in Toronto."),
    ("b", "Never. Mixed offsets sort wrong and you only notice at night."),
    ("a", "And isoformat dropping the microseconds when they are zero?"),
    ("b", "One helper formats every sort key. Nobody calls isoformat directly."),
    ("a", "Good. What about two messages landing in the same microsecond?"),
    ("b", "The put is conditional on the key not existing. Nothing gets overwritten."),
    ("a", "I like that the rules are written down this time."),
    ("b", "Learned the hard way, like most rules."),
    ("a", "Ten minutes to midnight here. Snacks are ready."),
    ("b", "Save me some. I am paging through the conversation to check the cursor."),
    ("a", "Twenty messages per page, and an Earlier link that goes back to the start?"),
    ("b", "Right. The cursor is opaque, and a forged one gets a polite 404."),
    ("a", "Who can read a conversation, by the way?"),
    ("b", "Only the two people in it. Anyone else sees 404, not even a hint it exists."),
    ("a", "Five minutes. The neighbours have started early."),
    ("b", "Mine too. The dog is not impressed."),
    ("a", "Countdown time. Ten, nine, eight..."),
    ("b", "...three, two, one. Happy New Year!"),
    ("a", "Happy New Year! Now refresh your inbox."),
    ("b", "Still there. The conversation survived the year change."),
    ("a", "Ordering looks right across midnight too: last year's messages first."),
    ("b", "Because the keys compare as text and the text is fixed width. No magic."),
    ("a", "Next up: showing who has unread messages."),
    ("b", "A counter on the group item, bumped in the same transaction. Not tonight."),
    ("a", "Agreed. Tonight we celebrate a table that behaves."),
    ("b", "And a seed script that can run twice without making a mess."),
    ("a", "Fixed times and fixed ids. Running it again changes nothing."),
    ("b", "That is how you get a demo that works every single time."),
    ("a", "I am going to bed. Ship it in the morning?"),
    ("b", "Ship it in the morning. Good night, and happy new year again."),
    ("a", "Good night!"),
]


class SeedUsersMissing(Exception):
    pass


def seed_conversation(*, prod: bool = False) -> int:
    """Write the seed conversation (idempotent); returns the number of messages."""
    seeds = {seed.handle: seed for seed in SEED_USERS}
    # The seed users as they are now: an admin may have renamed them (find_seed_user).
    users = {handle: find_seed_user(seeds[handle]) for handle in SEED_HANDLES}
    missing = [handle for handle, user in users.items() if user is None]
    if missing:
        raise SeedUsersMissing(
            f"Seed users missing: {', '.join(missing)}. Run `python manage.py seed_users` first."
        )
    refs = {
        speaker: UserRef(uuid=str(user.uuid), handle=user.handle, display_name=user.display_name)
        for speaker, user in zip("ab", (users[h] for h in SEED_HANDLES), strict=True)
    }
    namespace = uuid.UUID(SEED_CONVERSATION_UUID)
    messages = [
        NewMessage(
            message_uuid=str(uuid.uuid5(namespace, str(index))),
            sender=refs[speaker],
            text=text,
            # About a minute apart; the first one lands on a whole second (microseconds 0).
            created_at=SEED_START + timedelta(seconds=index * 83, microseconds=index * 1013),
        )
        for index, (speaker, text) in enumerate(SEED_LINES)
    ]
    get_store(prod=prod).import_conversation(
        conversation_uuid=SEED_CONVERSATION_UUID,
        participants=(refs["a"], refs["b"]),
        messages=messages,
    )
    return len(messages)
