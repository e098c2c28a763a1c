"""A rotation of RDS's managed password does not lock a running task out of its database
(cruddur/database.py): a connection refused for its password reads the secret again."""

import json
import logging
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3
import psycopg
import pytest

from cruddur import database
from cruddur.database import RotatedPasswordConnection

REFUSED = 'connection failed: FATAL:  password authentication failed for user "cruddur"'


class Postgres:
    """Stands in for the server behind psycopg's connect: it takes one password."""

    def __init__(self, password: str):
        self.password = password
        self.tried: list[str | None] = []

    def connect(self, conninfo: str = "", **kwargs):
        self.tried.append(kwargs.get("password"))
        if kwargs.get("password") != self.password:
            raise psycopg.OperationalError(REFUSED)
        return f"connected with {kwargs['password']}"


@pytest.fixture
def secret(aws_in_process, settings, monkeypatch):
    """RDS's secret, as RDS writes it, with the password the task started with."""
    client = boto3.client("secretsmanager", region_name=settings.AWS_DEFAULT_REGION)
    arn = client.create_secret(
        Name="rds!db-cruddur", SecretString=json.dumps({"username": "cruddur", "password": "p1"})
    )["ARN"]
    settings.DATABASE_SECRET_ARN = arn
    monkeypatch.setattr(database, "_current_password", None)

    def rotate(password: str) -> None:
        client.put_secret_value(
            SecretId=arn, SecretString=json.dumps({"username": "cruddur", "password": password})
        )

    return rotate


@pytest.fixture
def postgres(monkeypatch):
    server = Postgres("p1")
    monkeypatch.setattr(
        psycopg.Connection,
        "connect",
        classmethod(lambda cls, conninfo="", **kwargs: server.connect(conninfo, **kwargs)),
    )
    return server


def test_while_the_password_holds_the_secret_is_not_read(secret, postgres, monkeypatch):
    monkeypatch.setattr(database, "read_password_again", pytest.fail)
    assert RotatedPasswordConnection.connect("", password="p1") == "connected with p1"


def test_after_a_rotation_new_connections_use_the_secret_s_new_password(secret, postgres):
    secret("p2")
    postgres.password = "p2"  # RDS changed it: the task still holds p1 from its start

    assert RotatedPasswordConnection.connect("", password="p1") == "connected with p2"
    assert RotatedPasswordConnection.connect("", password="p1") == "connected with p2"
    assert postgres.tried == ["p1", "p2", "p2"]  # the secret read once, then kept


def test_threads_refused_at_once_read_the_secret_once(secret, postgres, caplog):
    secret("p2")
    postgres.password = "p2"
    with caplog.at_level(logging.WARNING, logger="cruddur.database"), ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: RotatedPasswordConnection.connect("", password="p1"), range(8))
        )
    assert answers == ["connected with p2"] * 8
    assert len(caplog.records) == 1  # one read of the secret


def test_the_pool_opens_its_connections_through_it_when_the_secret_is_named():
    settings_of = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['OPTIONS']['pool']['connection_class'].__name__)"
    )
    environment = {
        **os.environ,
        "DATABASE_URL": "postgres://cruddur@db.internal:5432/cruddur",
        "DATABASE_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-x",
        "DJANGO_SETTINGS_MODULE": "cruddur.settings",
    }
    printed = subprocess.run(
        [sys.executable, "-c", settings_of], env=environment, capture_output=True, text=True
    )
    assert printed.stdout.strip() == "RotatedPasswordConnection", printed.stderr


def test_other_refusals_are_not_retried(secret, postgres, monkeypatch):
    def unreachable(cls, conninfo="", **kwargs):
        raise psycopg.OperationalError("connection failed: Connection refused")

    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(unreachable))
    monkeypatch.setattr(database, "read_password_again", pytest.fail)
    with pytest.raises(psycopg.OperationalError, match="Connection refused"):
        RotatedPasswordConnection.connect("", password="p1")


def test_a_password_the_secret_does_not_mend_is_still_refused(secret, postgres):
    postgres.password = "something else"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        RotatedPasswordConnection.connect("", password="p1")
