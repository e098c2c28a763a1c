"""Each signed-in person sees times in their own time zone (UTC when they chose none)."""

import zoneinfo

from django.utils import timezone


class TimeZoneMiddleware:
    """Activate the signed-in user's time zone for the request; DynamoDB keys stay UTC
    whatever is active (messaging/timestamps.py formats only what the pages show)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = getattr(request.user, "time_zone", "") if request.user.is_authenticated else ""
        try:
            timezone.activate(zoneinfo.ZoneInfo(zone)) if zone else timezone.deactivate()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()  # a name set outside the forms that the system lacks
        return self.get_response(request)
