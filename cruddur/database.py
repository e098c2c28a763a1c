"""Postgres connections that outlive a rotation of RDS's managed master password.

ECS gives a task `DATABASE_PASSWORD` from RDS's secret once, when it starts; RDS rotates that
secret every seven days. Connections open at the rotation keep working, but each new one, which
the pool opens as old ones age out, would be refused until the task is replaced. With
`DATABASE_SECRET_ARN` set (deploy/app.yaml sets it to that secret), a connection that Postgres
refuses for its password reads the secret again and tries once more, and the connections after
it use what it read. Nothing changes while the password holds: no call to Secrets Manager.

psycopg_pool opens every connection with `connection_class.connect`; Django hands its
`OPTIONS["pool"]` to the pool, so cruddur/settings.py names this class there.
"""

from __future__ import annotations

import json
import logging
import threading

import boto3
import psycopg
from django.conf import settings

from cruddur import aws

logger = logging.getLogger("cruddur.database")

# Postgres's "invalid_password"; libpq reports some refusals by their message alone.
_INVALID_PASSWORD = "28P01"
_lock = threading.Lock()
_current_password: str | None = None  # read from the secret after a refusal


class RotatedPasswordConnection(psycopg.Connection):
    @classmethod
    def connect(cls, conninfo: str = "", **kwargs):
        if _current_password is not None:
            kwargs["password"] = _current_password
        try:
            return super().connect(conninfo, **kwargs)
        except psycopg.OperationalError as error:
            if not password_refused(error):
                raise
            refused = kwargs.get("password")
            kwargs["password"] = read_password_again(refused)
            return super().connect(conninfo, **kwargs)


def password_refused(error: psycopg.OperationalError) -> bool:
    sqlstate = getattr(error, "sqlstate", None)
    return sqlstate == _INVALID_PASSWORD or "password authentication failed" in str(error)


def read_password_again(refused: str | None) -> str:
    """The secret's password now. Threads refused at once read it once: a thread that finds
    a password other than the one refused to it takes that one."""
    global _current_password
    with _lock:
        if _current_password is not None and _current_password != refused:
            return _current_password
        client = boto3.session.Session().client(
            "secretsmanager",
            **aws.client_kwargs(
                endpoint_url=settings.AWS_ENDPOINT_URL,
                region=settings.AWS_DEFAULT_REGION,
                max_attempts=aws.DEFAULT_MAX_ATTEMPTS,
                connect_timeout=2,
                read_timeout=5,
            ),
        )
        secret = client.get_secret_value(SecretId=settings.DATABASE_SECRET_ARN)
        _current_password = json.loads(secret["SecretString"])["password"]
        logger.warning("the database refused its password: read it again from its secret")
        return _current_password
