"""Settings for the benchmark's processes: the app's own, plus the floor view's URL.

Everything else comes from the environment the orchestrator sets (DEBUG off, SECRET_KEY,
COST_HEADERS on, DATABASE_URL, AWS_ENDPOINT_URL), read by cruddur.settings as in production.
"""

from cruddur.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# Production serves hashed names from `collectstatic`'s manifest; the pages are measured, not
# the static files, so skip the collectstatic step (the lookup differs by one dict access).
# bench/push.py drives live.js in Chromium: static files straight from the apps' folders.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The load is a few clients sending as fast as they can: far over what one person may send.
# The benchmark measures the sends, not the limits, so they are out of reach here.
SEND_LIMIT_PER_MINUTE = NEW_CONVERSATION_LIMIT_PER_HOUR = 10**9
