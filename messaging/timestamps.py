"""How the pages show a moment: a short relative label, the ISO time, and a hover title.

Formatted once per row when a view model is built, against one clock per page and the
request's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone


@dataclass(frozen=True)
class Stamp:
    """A moment as the pages show it, formatted once when the view model is built.

    The templates print these as they are: localised `|date` filters and a `{% url %}` per row
    were most of a page's rendering time.
    """

    label: str  # relative, for the list: "5m", "Mar 3" (relative_time)
    iso: str  # <time datetime="...">: ISO 8601 in the current time zone
    title: str  # the hover text: "Tuesday 3 March 2026, 14:05 UTC"


# The page language's names (English), as Django's `|date` gave them; not the C locale's.
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def relative_time(moment: datetime, *, now: datetime | None = None) -> str:
    """Short label for a list: "now", "5m", "3h", then "Mar 3", with the year if not this year."""
    now = now or timezone.now()
    tz = timezone.get_current_timezone()
    return _relative(moment.astimezone(tz), now, now.astimezone(tz).year)


def _relative(local: datetime, now: datetime, this_year: int) -> str:
    age = now - local
    if age < timedelta(minutes=1):
        return "now"  # also for a clock slightly ahead of ours
    if age < timedelta(hours=1):
        return f"{int(age.total_seconds() // 60)}m"
    if age < timedelta(days=1):
        return f"{int(age.total_seconds() // 3600)}h"
    label = f"{_MONTHS[local.month - 1][:3]} {local.day}"
    return label if local.year == this_year else f"{label}, {local.year}"


class Clock:
    """Formats a page's moments against one `now` and the request's time zone, looked up once."""

    def __init__(self) -> None:
        self.now = timezone.now()
        self.tz = timezone.get_current_timezone()
        self.this_year = self.now.astimezone(self.tz).year

    def stamp(self, moment: datetime) -> Stamp:
        local = moment.astimezone(self.tz)
        # The same text as `|date:"l j F Y, H:i T"`, which leaves the zone out when the local
        # time is ambiguous or does not exist (a daylight-saving change).
        offset = local.utcoffset()
        zone = local.tzname() if local.replace(fold=1 - local.fold).utcoffset() == offset else ""
        title = (
            f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}, "
            f"{local.hour:02d}:{local.minute:02d} {zone}"
        )
        return Stamp(_relative(local, self.now, self.this_year), local.isoformat(), title)
