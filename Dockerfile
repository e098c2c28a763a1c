# syntax=docker/dockerfile:1
# The image of the pages (web), the event streams (events) and the deploy's migrate task:
# deploy/entrypoint.sh says what each runs. deploy/deploy.py builds it and pushes it to ECR.

# Python 3.11, CI's interpreter, on a named Debian release, so that a rebuild does not move to
# another Debian (and libc) unseen. For byte-for-byte rebuilds, add the digest the first
# build pulled: python:3.11-slim-bookworm@sha256:...
FROM python:3.11-slim-bookworm AS build

# The production requirements only, as wheels (psycopg-binary brings its own libpq): no
# compiler, no system packages, in either stage. The venv is copied to the same path below.
RUN python -m venv /venv
COPY requirements.txt /tmp/requirements.txt
RUN /venv/bin/pip install --no-cache-dir --disable-pip-version-check --only-binary=:all: \
        --requirement /tmp/requirements.txt

FROM python:3.11-slim-bookworm AS runtime

ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=cruddur.settings

# The servers run as this user, who can write nothing in /app: code and static files are root's.
# A fixed number, which USER names below: what a host or a policy sees (runAsNonRoot).
RUN groupadd --system --gid 10001 cruddur \
    && useradd --system --uid 10001 --gid cruddur --no-create-home --shell /usr/sbin/nologin cruddur

WORKDIR /app
COPY --from=build /venv /venv
# What the servers and the migrate task need: manage.py, every app, templates, static files,
# and the servers' settings. .dockerignore keeps the rest of the repository out.
COPY manage.py ./
COPY cruddur/ cruddur/
COPY users/ users/
COPY messaging/ messaging/
COPY notifications/ notifications/
COPY templates/ templates/
COPY static/ static/
COPY deploy/entrypoint.sh deploy/gunicorn.conf.py deploy/

# The static files, hashed and compressed for WhiteNoise (STATIC_ROOT, /app/staticfiles), and
# the bytecode, which the servers' user could not write. Settings load only with a SECRET_KEY
# when DEBUG is off (which picks the hashed storage): a throwaway one, in this step's
# environment only, never in the image; the real one comes at run time (Secrets Manager).
RUN DEBUG=false SECRET_KEY=collectstatic-at-build-time-only \
        python manage.py collectstatic --no-input \
    && python -m compileall -q manage.py cruddur users messaging deploy

USER 10001:10001
EXPOSE 8000
# For `docker run` and Compose (ECS and the ALB have their own, deploy/app.yaml). The image
# has no curl: Python asks. /health/live answers whatever the Host header (cruddur/middleware.py)
# and touches nothing else: an outage of the database or DynamoDB is not this container's to
# mend by being restarted (/health/ready reports those).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health/live\", timeout=4)"]
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
