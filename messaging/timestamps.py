"""How the pages show a moment: a short relative label for lists, the time of day for
messages, the day a conversation's messages are grouped under, the ISO time and a hover title.

Formatted once per row when a view model is built, against one clock per page and the
request's time zone (the viewer's: users.middleware), with Django's date formatting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone
from django.utils.dateformat import format as date_format


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
    return date_format(local, "M j" if local.year == this_year else "M j, Y")


class Clock:
    """Formats a page's moments against one `now` and the request's time zone, looked up once."""

    def __init__(self) -> None:
        self.now = timezone.now()
        self.tz = timezone.get_current_timezone()
        self.today = self.now.astimezone(self.tz).date()

    def stamp(self, moment: datetime) -> Stamp:
        local = moment.astimezone(self.tz)
        # "T" leaves the zone out when the local time is ambiguous or does not exist (a
        # daylight-saving change), as the |date filter does.
        title = date_format(local, "l j F Y, H:i T").rstrip()
        return Stamp(
            label=_relative(local, self.now, self.today.year),
            iso=local.isoformat(),
            title=title,
            time_of_day=date_format(local, "H:i"),
            day=local.date(),
        )

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
