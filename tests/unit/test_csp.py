"""The Content-Security-Policy (django-csp, settings.CONTENT_SECURITY_POLICY): on every page,
strict (nothing inline, nothing from elsewhere), and templates that need nothing more.
tests/e2e/test_csp.py checks the same pages, and the admin, in Chromium."""

import re
import uuid
from pathlib import Path

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import path
from django.utils import timezone

from cruddur.urls import urlpatterns as site_urlpatterns
from messaging.domain import NewMessage
from tests.helpers import ref

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
POLICY = {
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
}


def boom(request):
    raise RuntimeError("a server error, for the 500 page")


# This module is also a URLconf (see test_a_server_error_page_has_the_policy).
urlpatterns = [*site_urlpatterns, path("boom/", boom)]


def directives(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_strict(response) -> None:
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    header = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in header
    assert "unsafe-eval" not in header


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def conversation(store, a, b) -> str:
    group = str(uuid.uuid4())
    message = NewMessage(
        message_uuid=str(uuid.uuid4()), sender=ref(a), text="Hello", created_at=timezone.now()
    )
    store.import_conversation(
        conversation_uuid=group, participants=(ref(a), ref(b)), messages=[message]
    )
    return group


def test_the_policy_is_the_documented_one(client):
    assert directives(client.get("/accounts/login/")) == POLICY


@pytest.mark.parametrize(
    ("url", "status"),
    [("/accounts/login/", 200), ("/accounts/signup/", 200), ("/no-such-page/", 404)],
)
def test_visitors_pages_have_the_policy(client, url, status):
    response = client.get(url)

    assert response.status_code == status
    assert_strict(response)


def test_signed_in_pages_have_the_policy(memory_store, andrew, bayko, londo):
    group = conversation(memory_store, andrew, bayko)
    client = signed_in(andrew)

    for url, status in [
        ("/messages/", 200),
        (f"/messages/{group}/", 200),
        ("/messages/new/londo/", 200),
        ("/messages/5ae290ed-55d1-47a0-bc6d-fe2bc2700399/", 404),
    ]:
        response = client.get(url)
        assert response.status_code == status, url
        assert_strict(response)


def test_the_admin_has_the_policy(make_user):
    client = signed_in(make_user("sinclair", is_staff=True, is_superuser=True))

    for url in ("/admin/", "/admin/users/user/", "/admin/users/user/add/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict(response)


def test_a_locked_out_login_has_the_policy(client, settings, make_user):
    make_user("londo")
    settings.AXES_FAILURE_LIMIT = 1
    client.post("/accounts/login/", {"username": "londo", "password": "wrong"})

    response = client.post("/accounts/login/", {"username": "londo", "password": "wrong"})

    assert response.status_code == 429
    assert_strict(response)


@pytest.mark.urls(__name__)
def test_a_server_error_page_has_the_policy_and_needs_nothing_inline():
    response = Client(raise_request_exception=False).get("/boom/")

    assert response.status_code == 500
    assert_strict(response)
    html = response.content.decode()
    assert 'rel="stylesheet" href="/static/css/cruddur.css"' in html
    assert "style=" not in html


def test_the_other_security_headers_stay(client):
    response = client.get("/accounts/login/")

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


# --- what the policy refuses, kept out of the code ---

INLINE = [
    (r"<style\b", "a <style> element"),
    (r"\sstyle\s*=", "a style attribute"),
    (r"<script\b(?![^>]*\bsrc=)[^>]*>", "a <script> without src"),
    (r"\son[a-z]+\s*=", "an on...= handler"),
    (r"javascript:", "a javascript: URL"),
]


def templates():
    """The pages' templates. Not the bodies of emails (a folder `email/`): mail programs read
    those, ignore stylesheets (so their styles are inline) and never see the site's policy."""
    folders = [ROOT / "templates", *ROOT.glob("*/templates")]
    return sorted(
        p
        for folder in folders
        for p in folder.rglob("*.html")
        if ".venv" not in p.parts and "email" not in p.parent.parts
    )


def test_no_template_has_inline_script_or_style():
    found = []
    for template in templates():
        text = template.read_text()
        for pattern, what in INLINE:
            for match in re.finditer(pattern, text, flags=re.I):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{template.relative_to(ROOT)}:{line}: {what}")
    assert templates(), "no templates found"
    assert found == []


def test_no_script_writes_style_attributes_or_markup():
    # Setting element.style.x (CSSOM) is allowed; a style attribute or markup is not.
    refused = re.compile(
        r"setAttribute\(\s*['\"](style|on[a-z]+)['\"]|innerHTML|outerHTML|insertAdjacentHTML"
        r"|document\.write|\beval\(|new Function\("
    )
    scripts = sorted((ROOT / "static" / "js").glob("*.js"))
    found = [
        f"{script.relative_to(ROOT)}:{number}: {line.strip()}"
        for script in scripts
        for number, line in enumerate(script.read_text().splitlines(), 1)
        if refused.search(line)
    ]
    assert scripts
    assert found == []


def test_every_admin_keeps_an_action_bar():
    # admin/change_list.html adds an inline <style> when a ModelAdmin turns off both action
    # bars (Django 5.2): the policy would refuse it, so the admin must keep one.
    hidden = [
        type(model_admin).__name__
        for model_admin in admin.site._registry.values()
        if not (model_admin.actions_on_top or model_admin.actions_on_bottom)
    ]
    assert hidden == []


def test_the_cost_footer_needs_nothing_inline(settings, memory_store, andrew):
    # With COST_FOOTER on, every page ends with the cost footer, written by middleware.
    settings.DEBUG = True
    settings.COST_FOOTER = True

    html = signed_in(andrew).get("/messages/").content.decode()

    assert '<footer class="cost-footer">' in html
    assert not [match for pattern, _ in INLINE for match in re.findall(pattern, html, flags=re.I)]
