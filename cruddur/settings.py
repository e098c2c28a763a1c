"""Settings for Cruddur Messages, read from the environment (and `.env`) with django-environ.

Local defaults need no configuration: DEBUG on, an SQLite file, a development secret key.
With DEBUG off the app refuses to start without SECRET_KEY and turns on the HTTPS settings
that `manage.py check --deploy` asks for.
"""

import os
import warnings
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.core import RESERVED_ATTRS as json_log_reserved_attrs

from cruddur import aws

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Values already in the environment win over the file (read_env only sets what is missing).
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off, set SECRET_KEY to a long random value "
            '(for example: python -c "import secrets; print(secrets.token_urlsafe(50))").'
        )
    SECRET_KEY = "django-insecure-local-development-only-do-not-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "cruddur.views.csrf_failure"  # says why, keeps the posted text

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "django_htmx",  # htmx itself, from its wheel (static/django_htmx/htmx-2.min.js)
    "csp",  # django-csp: its system checks catch settings in the old CSP_* form
    "django_guid",  # the request id (cruddur/logs.py): DJANGO_GUID below
    "cruddur",  # the deploy checks (cruddur/checks.py)
    "users",
    "messaging",
    "notifications",
]

MIDDLEWARE = [
    # First, so that every answer carries X-Request-ID and every log line the request's id.
    "cruddur.logs.accept_request_id",  # which incoming id to believe (cruddur/logs.py)
    "django_guid.middleware.guid_middleware",
    "cruddur.middleware.answer_health_checks",  # first: /health/* whatever the Host header says
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy: CONTENT_SECURITY_POLICY below
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "cruddur.middleware.time_requests",  # each request's latency by view (/metrics)
    "cruddur.middleware.RequestCostMiddleware",  # what each request cost: COST_* below
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "users.middleware.TimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx: a request made by htmx
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers for a locked-out login
]

# Content-Security-Policy (django-csp) on every response: scripts, styles, fonts, images and
# requests from this origin only; no inline <script>, <style>, style="" or on...= handlers,
# no eval; no plugins, no <base>, no framing. Pages keep their CSS and JS in static/.
# The Django admin needs no exception (tests/e2e/test_csp.py drives it), as long as no
# ModelAdmin turns off both action bars: the changelist then adds an inline <style>.
# With DEBUG on, django-csp leaves 404 and 500 responses without the header (Django's
# debug pages are inline); with DEBUG off they have it too.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    },
}

ROOT_URLCONF = "cruddur.urls"
WSGI_APPLICATION = "cruddur.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# A password given apart from the URL wins over the URL's: a secret injected on its own (ECS
# puts RDS's managed secret there). Read as it is: in a URL its characters would need escaping,
# and django-environ takes a value that starts with "$" for the name of another variable.
if _database_password := os.environ.get("DATABASE_PASSWORD"):
    DATABASES["default"]["PASSWORD"] = _database_password
# The secret that password comes from (RDS's managed one, which RDS rotates): read again when
# the database refuses the password (cruddur/database.py). Needs the pool.
DATABASE_SECRET_ARN = env.str("DATABASE_SECRET_ARN", default="")
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_POOL", default=True
):
    # A pool per process (psycopg_pool): under ASGI every request runs on a thread of its own,
    # and Django's persistent connections, kept per thread, would connect for each request.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DATABASE_POOL_SIZE", default=10),
        "timeout": 10,
    }
    if DATABASE_SECRET_ARN:
        from cruddur.database import RotatedPasswordConnection

        DATABASES["default"]["OPTIONS"]["pool"]["connection_class"] = RotatedPasswordConnection
else:
    if DATABASE_SECRET_ARN:
        raise ImproperlyConfigured(
            "DATABASE_SECRET_ARN needs Postgres with its connection pool (DATABASE_POOL=true)."
        )
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache: Redis when REDIS_URL is set (redis:// or, for ElastiCache, rediss://), else this
# process's memory, which serves one local process. docs/CACHE.md says what is cached.
REDIS_URL = env.str("REDIS_URL", default="")
# Without REDIS_URL, `check --deploy` fails with DEBUG off (cruddur/checks.py) unless the
# deployment says it runs one process only, where per-process memory is shared by all.
SINGLE_PROCESS = env.bool("SINGLE_PROCESS", default=False)
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="cruddur")  # the event channels' too
_cache_keys = {
    "KEY_PREFIX": CACHE_KEY_PREFIX,
    "VERSION": env.int("CACHE_VERSION", default=1),
}
# Redis that does not answer at once is skipped; one connection pool per process, not per
# request (cruddur/cache.py).
REDIS_CACHE_OPTIONS = {
    "pool_class": "cruddur.cache.SharedConnectionPool",
    "socket_connect_timeout": 0.5,
    "socket_timeout": 0.5,
}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "cruddur.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            **_cache_keys,
            "OPTIONS": REDIS_CACHE_OPTIONS,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "cruddur",
            **_cache_keys,
        }
    }
# Sessions are read from the cache and kept in the database, so losing the cache (a Redis
# restart, an outage) logs no one out.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

AUTH_USER_MODEL = "users.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses logins during a cool-off
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (django-axes, failures kept in the database; users/lockout.py): after
# LOGIN_FAILURE_LIMIT failed logins for one handle from one address, after
# LOGIN_ADDRESS_FAILURE_LIMIT from one address across handles, or after
# LOGIN_HANDLE_FAILURE_LIMIT for one handle from anywhere (except from an address it logged in
# from), logging in is paused for LOGIN_COOLOFF_MINUTES, the right password included. Tries
# while paused are not counted and do not move its end. The two ceilings are at least
# LOGIN_FAILURE_LIMIT. A password reset lifts the handle's pause; the admin's "Access
# attempts" lifts any.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=20)
LOGIN_HANDLE_FAILURE_LIMIT = env.int("LOGIN_HANDLE_FAILURE_LIMIT", default=100)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = "users.lockout.lockout_keys"
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_USERNAME_CALLABLE = "users.lockout.handle_of"
AXES_LOCKOUT_CALLABLE = "users.lockout.locked_out"
AXES_CLIENT_IP_CALLABLE = "users.lockout.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# How long axes' records of logins and failed logins are kept (`manage.py housekeeping`). The
# record of a login is what proves an address the owner's own (users/lockout.py), so keep them
# longer than a session lasts (SESSION_COOKIE_AGE, two weeks): an owner who uses the site
# always has a recent one.
LOGIN_ATTEMPTS_KEEP_DAYS = env.int("LOGIN_ATTEMPTS_KEEP_DAYS", default=30)

# Rate limits (cruddur/limits.py), counted in the cache: shared by every process through Redis,
# per process with the embedded default. Far above what a person does.
SEND_LIMIT_PER_MINUTE = env.int("SEND_LIMIT_PER_MINUTE", default=60)
NEW_CONVERSATION_LIMIT_PER_HOUR = env.int("NEW_CONVERSATION_LIMIT_PER_HOUR", default=20)
# How long after sending a person may edit their message (messaging.domain.edit_window).
EDIT_WINDOW_SECONDS = env.int("EDIT_WINDOW_SECONDS", default=900)
# How many people a group conversation may hold, its starter included (messaging.domain): a
# send moves every member's inbox entry in one DynamoDB transaction (at most 100 actions), so
# 32 is the ceiling; docs/BENCHMARKS.md shows what a send costs as groups grow.
GROUP_MAX_MEMBERS = env.int("GROUP_MAX_MEMBERS", default=10)
if not 3 <= GROUP_MAX_MEMBERS <= 32:
    raise ImproperlyConfigured(
        f"GROUP_MAX_MEMBERS is {GROUP_MAX_MEMBERS}: a group holds 3 to 32 people (a send "
        "writes every member's inbox entry in one DynamoDB transaction of at most 100 actions)."
    )
# Live event streams one person may hold open in one server process (messaging/events.py): a
# browser holds one for all its tabs; beyond this, a page polls instead (429, docs/PUSH.md).
EVENT_STREAMS_PER_PERSON = env.int("EVENT_STREAMS_PER_PERSON", default=10)
# Password reset emails (users/views.py): per email address typed from one client address (a
# stranger elsewhere cannot use up the owner's), per client address (flooding many addresses),
# and a ceiling per email address across all clients, beyond which the page points to the
# emails already sent instead of sending more (not an error: the owner gets through).
PASSWORD_RESET_LIMIT_PER_HOUR = env.int("PASSWORD_RESET_LIMIT_PER_HOUR", default=3)
PASSWORD_RESET_CLIENT_LIMIT_PER_HOUR = env.int("PASSWORD_RESET_CLIENT_LIMIT_PER_HOUR", default=20)
PASSWORD_RESET_ADDRESS_LIMIT_PER_HOUR = env.int("PASSWORD_RESET_ADDRESS_LIMIT_PER_HOUR", default=10)
# Accounts created per client address (a household never meets it), and email address
# verification links sent again per user (users/verification.py).
SIGNUP_LIMIT_PER_HOUR = env.int("SIGNUP_LIMIT_PER_HOUR", default=10)
EMAIL_VERIFICATION_LIMIT_PER_HOUR = env.int("EMAIL_VERIFICATION_LIMIT_PER_HOUR", default=5)
# How long a verification link works, in seconds: three days, as Django's PASSWORD_RESET_TIMEOUT.
EMAIL_VERIFICATION_TIMEOUT = 60 * 60 * 24 * 3
# A handle someone renamed away from stays theirs for this many days (users/names.py): no one
# else may take it, and links with it say where they went.
HANDLE_HOLD_DAYS = env.int("HANDLE_HOLD_DAYS", default=30)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/messages/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# In development WhiteNoise serves from the app folders; STATIC_ROOT exists after collectstatic.
warnings.filterwarnings("ignore", message="No directory at: ")
# With DEBUG off, WhiteNoise's hashed and compressed files; pages render even before
# collectstatic has been run (cruddur/staticfiles.py).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "cruddur.staticfiles.ManifestStaticFilesStorage"
    },
}

# AWS: AWS_ENDPOINT_URL points boto3 at the local emulator; unset means real AWS.
AWS_ENDPOINT_URL = env.str("AWS_ENDPOINT_URL", default="") or None
AWS_DEFAULT_REGION = env.str("AWS_DEFAULT_REGION", default=aws.DEFAULT_REGION)
AWS_MAX_ATTEMPTS = env.int("AWS_MAX_ATTEMPTS", default=aws.DEFAULT_MAX_ATTEMPTS)
DDB_MESSAGE_TABLE = env.str("DDB_MESSAGE_TABLE", default=aws.DEFAULT_MESSAGE_TABLE)
# Where conversations live: the dotted path of the store's factory (messaging/store.py):
# DynamoDB, or messaging.memory.get_memory_store (one process's dictionary: the unit tests and
# the benchmark's baseline).
MESSAGE_STORE = "messaging.dynamo.get_dynamo_store"
AWS_COGNITO_USER_POOL_ID = env.str("AWS_COGNITO_USER_POOL_ID", default="")
# What each request cost (cruddur/middleware.py), besides its log line: X-DynamoDB-*/X-SQL-Queries
# headers (the benchmark reads them), and a footer on every HTML page for a developer who asks.
COST_HEADERS = env.bool("COST_HEADERS", default=False)
COST_FOOTER = env.bool("COST_FOOTER", default=False)
# /metrics (cruddur/metrics_views.py) answers only `Authorization: Bearer <METRICS_TOKEN>`,
# and not at all (404) while it is unset.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Answered before the Host check and the redirect to HTTPS (cruddur/middleware.py): a scraper
# inside the VPC asks a task at its address over plain HTTP, as the load balancer does.
# /health/ready's answer is this process's, checked at most once in this many seconds
# (cruddur/views.py): every probe within them gets it without reaching any dependency.
HEALTH_CACHE_SECONDS = env.float("HEALTH_CACHE_SECONDS", default=5.0)

if not DEBUG:
    # Load balancers probe /health/live over plain HTTP: the health checks are answered
    # before this redirect (cruddur/middleware.py).
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env.bool("BEHIND_TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# The request id (cruddur/logs.py): django-guid reads it from X-Request-ID (once
# cruddur.logs.accept_request_id has dropped what is not an id), makes one when there is none,
# and returns it as X-Request-ID.
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": False,  # accept_request_id's rule: ids in other shapes than a UUID too
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": False,  # no cross-origin callers to show it to
    "INTEGRATIONS": [],  # the Sentry tag, below, when SENTRY_DSN is set
}

# Logs on standard error, one record a line: LOG_FORMAT=json (the default with DEBUG off) is
# one JSON object a line (python-json-logger) for CloudWatch Logs Insights and the like;
# "text" (the default with DEBUG on) is for a person at a terminal. Both carry the request id
# (null, None in text, outside a request). The line each request logs: cruddur/middleware.py.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {
            "()": "django_guid.log_filters.CorrelationId",
            "correlation_id_field": "request_id",
        },
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["levelname", "name", "message", "request_id"],
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": True,  # ISO 8601, UTC
            # Not the `request` Django puts on its own records (django.request): its text
            # holds the query string, where live tokens travel.
            "reserved_attrs": [*json_log_reserved_attrs, "request"],
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        },
    },
    "loggers": {
        "messaging": {
            "handlers": ["console"],
            "level": env.str("MESSAGING_LOG_LEVEL", default="INFO"),
        },
        "users": {"handlers": ["console"], "level": "INFO"},
        "cruddur": {"handlers": ["console"], "level": "INFO"},
        # Server errors on the console with DEBUG off too (Django's default only mails them).
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "django_guid": {"handlers": ["console"], "level": "WARNING"},
    },
}

# Errors to Sentry, only when SENTRY_DSN is set: otherwise sentry_sdk is not even imported.
# No personal data (no cookies, user names or addresses: send_default_pii), each event tagged
# with its request's id; performance traces only when SENTRY_TRACES_SAMPLE_RATE asks.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    from cruddur.logs import SentryRequestIdTag

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration()],
        send_default_pii=False,
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=None),
        release=env.str("SENTRY_RELEASE", default=None),  # e.g. the image's commit
        environment=env.str("SENTRY_ENVIRONMENT", default=None),
    )
    DJANGO_GUID["INTEGRATIONS"].append(SentryRequestIdTag())

# Email (password reset links), from EMAIL_URL in django-environ's form. Unset, each email is
# printed on the console of `make run`. Production: SMTP, or Amazon SES's SMTP interface,
# smtp+tls://USER:PASSWORD@email-smtp.us-east-1.amazonaws.com:587 (STARTTLS) or
# smtp+ssl://…:465 (TLS from the start); characters such as / and + in the password are
# written %2F and %2B. Named keys rather than vars().update(), which would also define a
# setting called OPTIONS when the URL has a query string.
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
# Without a port in the URL, the one its scheme usually means (Django's default is 25).
EMAIL_PORT = _email["EMAIL_PORT"] or (465 if EMAIL_USE_SSL else 587 if EMAIL_USE_TLS else 25)
EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"] or None  # filemail:////absolute/folder
# A mail server that does not answer is given up on after this many seconds, rather than
# holding the request for as long as the operating system waits (Django's default: no limit).
EMAIL_TIMEOUT = 10
# A reset email that cannot be sent is logged by django.contrib.auth and the page answers as
# usual (it must not tell whether the address has an account): log it on the console, where
# Django's default configuration would drop it with DEBUG off.
LOGGING["loggers"]["django.contrib.auth"] = {
    "handlers": ["console"],
    "level": "ERROR",
    "propagate": False,  # once, not again by Django's own console handler with DEBUG on
}
# The sender of every email; with SES, an address or domain verified in SES.
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Cruddur <no-reply@cruddur.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL  # Django's error reports, if ADMINS is ever set
# The site's address as people reach it, for links in emails sent outside a request (the
# unread-message emails of `notify_emails`); https in production.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# Emails about unread messages (notifications/, README "Email when away"): a message unread this
# long (unless the person chose another delay in Settings) brings one email per conversation;
# `notify_emails` looks for due ones every NOTIFY_INTERVAL_SECONDS. NOTIFY_EMAIL_TEXT=false
# leaves the messages' text out of the emails (who wrote, how many, and the link stay).
NOTIFY_DELAY_SECONDS = env.int("NOTIFY_DELAY_SECONDS", default=600)
NOTIFY_INTERVAL_SECONDS = env.float("NOTIFY_INTERVAL_SECONDS", default=30)
NOTIFY_EMAIL_TEXT = env.bool("NOTIFY_EMAIL_TEXT", default=True)
