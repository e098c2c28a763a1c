"""How the pages show a moment: a short relative label for lists, the time of day for
messages, the day a conversation's messages are grouped under, the ISO time and a hover title.

Formatted once per row when a view model is built, against one clock per page and the
request's time zone (the viewer's: users.middleware). The words are Django's (its translated
month and weekday names, looked up once per page); the rows are put together here, because
`dateformat.format` parses its format string again for every value: ten times the cost, on
every row of every page. The tests compare the results with Django's `|date` filter.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone, translation
from django.utils.dateformat import format as date_format
from django.utils.dates import MONTHS, MONTHS_3, WEEKDAYS


@dataclass(frozen=True)
class Stamp:
    """A moment as the pages show it, formatted once when the view model is built.

    The templates print these as they are: localised `|date` filters and a `{% url %}` per row
    were most of a page's rendering time.
    """

    label: str  # relative, for the list: "5m", "Mar 3" (relative_time)
    iso: str  # <time datetime="...">: ISO 8601 in the current time zone
    title: str  # the hover text: "Tuesday 3 March 2026, 14:05 UTC"
    time_of_day: str  # "14:05", on each message
    day: date  # the local calendar day, which the day separators group by

    @property
    def day_iso(self) -> str:
        """The day as the pages' data-day attributes carry it: "2026-03-03"."""
        return self.day.isoformat()


def relative_time(moment: datetime, *, now: datetime | None = None) -> str:
    """Short label for a list: "now", "5m", "3h", then "Mar 3", with the year if not this year."""
    clock = Clock(now=now)
    return clock.stamp(moment).label


@functools.cache
def _names(language: str | None) -> tuple[list[str], list[str], list[str]]:
    """Django's names in `language`, as `|date` prints "l", "F" and "M" (months from 1)."""
    with translation.override(language):
        return (
            [str(WEEKDAYS[day]) for day in range(7)],
            [""] + [str(MONTHS[month]) for month in range(1, 13)],
            [""] + [str(MONTHS_3[month]).title() for month in range(1, 13)],
        )


class Clock:
    """Formats a page's moments against one `now` and the request's time zone, looked up once."""

    def __init__(self, *, now: datetime | None = None) -> None:
        self.now = now or timezone.now()
        self.tz = timezone.get_current_timezone()
        self.today = self.now.astimezone(self.tz).date()
        self.weekdays, self.months, self.short_months = _names(translation.get_language())

    def stamp(self, moment: datetime) -> Stamp:
        local = moment.astimezone(self.tz)
        time_of_day = f"{local.hour:02d}:{local.minute:02d}"  # "H:i"
        # `|date:"l j F Y, H:i T"`, whose "T" is empty when the local time is ambiguous or does
        # not exist (a daylight-saving change).
        offset = local.utcoffset()
        zone = local.tzname() if local.replace(fold=1 - local.fold).utcoffset() == offset else ""
        title = (
            f"{self.weekdays[local.weekday()]} {local.day} {self.months[local.month]} "
            f"{local.year}, {time_of_day} {zone}"
        ).rstrip()
        return Stamp(
            label=self._relative(local),
            iso=local.isoformat(),
            title=title,
            time_of_day=time_of_day,
            day=local.date(),
        )

    def _relative(self, local: datetime) -> str:
        age = self.now - local
        if age < timedelta(minutes=1):
            return "now"  # also for a clock slightly ahead of ours
        if age < timedelta(hours=1):
            return f"{int(age.total_seconds() // 60)}m"
        if age < timedelta(days=1):
            return f"{int(age.total_seconds() // 3600)}h"
        label = f"{self.short_months[local.month]} {local.day}"  # "M j"
        return label if local.year == self.today.year else f"{label}, {local.year}"

    def day_label(self, day: date) -> str:
        """ "Today", "Yesterday", the weekday within the last week, then the date."""
        age = (self.today - day).days
        if age == 0:
            return "Today"
        if age == 1:
            return "Yesterday"
        if 1 < age < 7:
            return date_format(day, "l")
        return date_format(day, "l j F" if day.year == self.today.year else "l j F Y")
