"""With DEBUG off and no `collectstatic` (no manifest in STATIC_ROOT), every page still renders,
the error pages included: cruddur/staticfiles.py links the unhashed names and says, once, what
to run."""

import logging

import pytest
from django.test import Client
from django.urls import path

from cruddur.staticfiles import ManifestStaticFilesStorage
from cruddur.urls import urlpatterns as site_urlpatterns

pytestmark = pytest.mark.django_db


def boom(request):
    raise RuntimeError("a server error, for the 500 page")


# This module is also a URLconf (the fixture below), for a view that fails.
urlpatterns = [*site_urlpatterns, path("boom/", boom)]


@pytest.fixture(autouse=True)
def without_manifest(settings, tmp_path, monkeypatch):
    """A deploy that forgot collectstatic: DEBUG off, and an empty STATIC_ROOT."""
    settings.DEBUG = False
    settings.ROOT_URLCONF = __name__
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "cruddur.staticfiles.ManifestStaticFilesStorage"},
    }
    monkeypatch.setattr(ManifestStaticFilesStorage, "missing_logged", False)


def test_the_login_page_renders_with_unhashed_static_links(client, caplog):
    with caplog.at_level(logging.ERROR, logger="cruddur.staticfiles"):
        response = client.get("/accounts/login/")
        client.get("/accounts/login/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<form method="post"' in page
    assert 'href="/static/css/cruddur.css"' in page
    # Said once per process, not for every link of every page.
    assert len(caplog.records) == 1
    assert "collectstatic --no-input" in caplog.records[0].getMessage()


def test_the_not_found_page_renders(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.content.decode()


def test_the_server_error_page_renders():
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    assert "<title>Something went wrong · Cruddur</title>" in response.content.decode()


def test_the_out_of_date_form_page_renders():
    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "x"})
    assert response.status_code == 403
    assert "This page was out of date" in response.content.decode()


def test_with_a_manifest_a_name_outside_it_is_not_logged(settings, tmp_path, caplog):
    # WhiteNoise looks up names the manifest never had (admin/js/jquery.js) at start-up.
    (tmp_path / "staticfiles.json").write_text(
        '{"version": "1.1", "paths": {"css/cruddur.css": "css/cruddur.0123456789ab.css"}, '
        '"hash": "x"}'
    )
    storage = ManifestStaticFilesStorage()
    with caplog.at_level(logging.ERROR, logger="cruddur.staticfiles"):
        assert storage.stored_name("admin/js/jquery.js") == "admin/js/jquery.js"
        assert storage.stored_name("css/cruddur.css") == "css/cruddur.0123456789ab.css"
    assert caplog.records == []
