"""The deployment's health checks reach /health/ (cruddur/middleware.py): the ALB's asks each task
by its private address and the image's HEALTHCHECK asks 127.0.0.1, neither of them a name in
ALLOWED_HOSTS, both over plain HTTP while the site redirects to HTTPS."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from cruddur.middleware import HEALTH_PATH


@pytest.fixture
def deployed(settings, moto_endpoint):
    """The production settings that turn such a request away, and a table to be healthy with."""
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["messages.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    call_command("ddb_schema_load", stdout=io.StringIO())


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["10.0.1.23:8000", "127.0.0.1:8000"])
def test_health_answers_whatever_the_host(client, deployed, host):
    response = client.get("/health/", HTTP_HOST=host)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_every_other_path_still_refuses_a_host_not_allowed(client, deployed):
    assert client.get("/accounts/login/", HTTP_HOST="10.0.1.23:8000").status_code == 400
    assert client.get("/health/live", HTTP_HOST="10.0.1.23:8000").status_code == 400
    # The allowed name is redirected to HTTPS, as before.
    assert client.get("/accounts/login/", HTTP_HOST="messages.example.com").status_code == 301


@pytest.mark.django_db
def test_health_still_says_when_a_dependency_is_down(client, deployed, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:1"
    assert client.get("/health/", HTTP_HOST="10.0.1.23:8000").status_code == 503


def test_the_middleware_answers_the_health_views_path():
    assert reverse("health") == HEALTH_PATH
