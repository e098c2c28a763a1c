"""A group's roster changes, decided once for both stores: who is in it after an add, a
leave or a rename, and the line the conversation shows for it ("Andrew added Londo.").

Pure functions of a `Roster`; the stores write what they decide, each in one atomic step
that checks the roster's version (`messaging.domain.Roster`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from .domain import ADDED, LEFT, RENAMED, Roster, UserRef
from .errors import GroupFull

MAX_GROUP_NAME_LENGTH = 64


@dataclass(frozen=True)
class Change:
    roster: Roster  # the roster after the change (its version raised)
    event: str  # domain.ADDED, LEFT or RENAMED
    text: str  # the line the conversation shows, in the actor's words


# How a store asks for a change: the roster as read and the sort key the event will take;
# None when there is nothing to change.
Decide = Callable[[Roster, str], "Change | None"]


def name_of(person: UserRef) -> str:
    return person.display_name or f"@{person.handle}"


def _listed(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}"


def added(
    roster: Roster, actor: UserRef, people: Sequence[UserRef], at: str, *, max_members: int
) -> Change | None:
    """`actor` adds `people` (those already in are skipped; None if nobody is new); each new
    member sees the group from `at`, the event's sort key. GroupFull beyond `max_members`."""
    new = list({person.uuid: person for person in people if not roster.has(person.uuid)}.values())
    if not new:
        return None
    if len(roster.members) + len(new) > max_members:
        raise GroupFull(max_members)
    joined = {**roster.joined_at, **{person.uuid: at for person in new}}
    after = replace(
        roster, members=(*roster.members, *new), joined_at=joined, version=roster.version + 1
    )
    text = f"{name_of(actor)} added {_listed([name_of(person) for person in new])}."
    return Change(after, ADDED, text)


def left(roster: Roster, person: UserRef) -> Change:
    """`person` leaves: out of the roster (their join time with them)."""
    members = tuple(member for member in roster.members if member.uuid != person.uuid)
    joined = {uuid: at for uuid, at in roster.joined_at.items() if uuid != person.uuid}
    after = replace(roster, members=members, joined_at=joined, version=roster.version + 1)
    return Change(after, LEFT, f"{name_of(person)} left.")


def renamed(roster: Roster, actor: UserRef, name: str) -> Change | None:
    """`actor` names the group `name` ("" takes its name away); None if it has that name."""
    name = " ".join(name.split())[:MAX_GROUP_NAME_LENGTH]
    if name == roster.name:
        return None
    after = replace(roster, name=name, version=roster.version + 1)
    if name:
        return Change(after, RENAMED, f"{name_of(actor)} named the group “{name}”.")
    return Change(after, RENAMED, f"{name_of(actor)} removed the group's name.")
