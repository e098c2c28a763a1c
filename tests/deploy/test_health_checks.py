"""The deployment's health checks reach their views (cruddur/middleware.py): the ALB's asks each
task by its private address and the image's HEALTHCHECK asks 127.0.0.1, neither of them a name in
ALLOWED_HOSTS, both over plain HTTP while the site redirects to HTTPS. Both ask /health/live;
/health/ready, and /health/ as before, are for monitors."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from cruddur import views
from cruddur.middleware import HEALTH_CHECKS

PRIVATE_HOSTS = ["10.0.1.23:8000", "127.0.0.1:8000"]


@pytest.fixture
def deployed(settings, moto_endpoint):
    """The production settings that turn such a request away, and a table to be healthy with."""
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["messages.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    call_command("ddb_schema_load", stdout=io.StringIO())


@pytest.mark.django_db
@pytest.mark.parametrize("host", PRIVATE_HOSTS)
@pytest.mark.parametrize("path", sorted(HEALTH_CHECKS))
def test_health_answers_whatever_the_host(client, deployed, host, path):
    response = client.get(path, HTTP_HOST=host)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_every_other_path_still_refuses_a_host_not_allowed(client, deployed):
    assert client.get("/accounts/login/", HTTP_HOST="10.0.1.23:8000").status_code == 400
    assert client.get("/health/live/", HTTP_HOST="10.0.1.23:8000").status_code == 400
    assert client.get("/health/other", HTTP_HOST="10.0.1.23:8000").status_code == 400
    # The allowed name is redirected to HTTPS, as before; the health checks never are.
    assert client.get("/accounts/login/", HTTP_HOST="messages.example.com").status_code == 301
    for path in HEALTH_CHECKS:
        assert client.get(path, HTTP_HOST="messages.example.com").status_code == 200, path


@pytest.mark.django_db
def test_readiness_says_when_a_dependency_is_down_and_liveness_does_not(client, deployed, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:1"
    assert client.get("/health/", HTTP_HOST="10.0.1.23:8000").status_code == 503
    assert client.get("/health/ready", HTTP_HOST="10.0.1.23:8000").status_code == 503
    assert client.get("/health/live", HTTP_HOST="10.0.1.23:8000").status_code == 200


def test_the_middleware_answers_the_health_views_paths():
    assert {
        reverse("health"): views.ready,
        reverse("health-ready"): views.ready,
        reverse("health-live"): views.live,
    } == HEALTH_CHECKS
