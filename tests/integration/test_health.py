import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_health_ok_when_database_and_dynamodb_are_up(client, moto_endpoint):
    call_command("ddb_schema_load", stdout=io.StringIO())
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "dynamodb": "ok", "cache": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_health_503_when_table_is_missing(client, moto_endpoint):
    response = client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["dynamodb"].startswith("unavailable")


@pytest.mark.django_db
def test_health_503_when_dynamodb_is_unreachable(client, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:1"
    settings.DEBUG = True
    response = client.get("/health/")
    assert response.status_code == 503
    assert "make run" in response.json()["dynamodb"]


def test_health_503_when_database_is_down():
    # A real unreachable database, in a fresh interpreter: nothing is mocked.
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/health/');"
        "print(r.status_code, json.dumps(r.json()))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cruddur.settings",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    status, _, body = result.stdout.strip().partition(" ")
    assert status == "503"
    assert '"status": "unavailable"' in body
    assert '"database": "unavailable' in body
