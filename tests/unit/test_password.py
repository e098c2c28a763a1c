"""Changing a password, and resetting a forgotten one by email (Django's views, our pages).

A change keeps the session it was made in and ends every other; a reset link works once; the
reset page never tells whether an address has an account. Emails land in `mail.outbox`
(pytest-django's locmem backend)."""

import logging
import re
from html.parser import HTMLParser

import pytest
from django.core import mail
from django.test import Client

from tests.helpers import signed_in
from tests.unit.test_settings import run_manage
from users.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-42"  # conftest's make_user
NEW_PASSWORD = "minbari-cruiser-77"
LINK = re.compile(r"https?://testserver(/accounts/reset/[^/\s]+/[^/\s]+/)")


def log_in(handle: str, password: str) -> Client:
    """A browser that logged in through the login page (axes and all); asserts it worked."""
    client = Client()
    response = client.post("/accounts/login/", {"username": handle, "password": password})
    assert response.status_code == 302, f"@{handle} could not log in"
    assert response["Location"] == "/messages/"
    return client


def can_log_in(handle: str, password: str) -> bool:
    response = Client().post("/accounts/login/", {"username": handle, "password": password})
    return response.status_code == 302


def change(client, old, new=NEW_PASSWORD):
    return client.post(
        "/accounts/password_change/",
        {"old_password": old, "new_password1": new, "new_password2": new},
    )


def ask_for_reset(client, email):
    return client.post("/accounts/password_reset/", {"email": email})


def reset_link(message) -> str:
    found = LINK.findall(message.body)
    assert len(found) == 1, message.body
    return found[0]


# --- change ---


def test_changing_the_password_needs_a_login(client):
    for url in ("/accounts/password_change/", "/accounts/password_change/done/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={url}"


def test_a_wrong_old_password_changes_nothing(andrew):
    client = signed_in(andrew)

    response = change(client, old="not-my-password")

    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
    assert response.context["form"].errors.keys() == {"old_password"}
    andrew.refresh_from_db()
    assert andrew.check_password(PASSWORD)
    assert not can_log_in("andrewbrown", NEW_PASSWORD)


def test_a_change_keeps_this_session_and_ends_the_others(memory_store, andrew):
    elsewhere = log_in("andrewbrown", PASSWORD)  # another browser, logged in before
    here = log_in("andrewbrown", PASSWORD)
    assert elsewhere.get("/messages/").status_code == 200

    response = change(here, old=PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_change/done/"
    assert here.get("/accounts/password_change/done/").status_code == 200
    assert here.get("/messages/").status_code == 200
    logged_out = elsewhere.get("/messages/")
    assert logged_out.status_code == 302
    assert logged_out["Location"].startswith("/accounts/login/")
    assert can_log_in("andrewbrown", NEW_PASSWORD)
    assert not can_log_in("andrewbrown", PASSWORD)


# --- reset by email ---


def test_a_reset_by_email_in_any_case_works_once(make_user, settings):
    make_user("delenn", email="delenn@example.com", display_name="Delenn")
    browser = Client()

    response = ask_for_reset(browser, "  DeLenn@EXAMPLE.com")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["delenn@example.com"]  # the stored address, not the one typed
    assert email.from_email == settings.DEFAULT_FROM_EMAIL
    assert email.subject == "Reset your Cruddur password"
    assert "@delenn" in email.body
    assert "ignore this email" in email.body
    link = reset_link(email)

    # The link sets the token aside in the session and moves to a URL without it.
    opened = browser.get(link)
    assert opened.status_code == 302
    set_password_url = opened["Location"]
    assert set_password_url.endswith("/set-password/")
    form_page = browser.get(set_password_url)
    assert form_page.status_code == 200
    assert "@delenn" in form_page.content.decode()
    done = browser.post(
        set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done.status_code == 302
    assert done["Location"] == "/accounts/reset/done/"

    assert can_log_in("delenn", NEW_PASSWORD)
    assert not can_log_in("delenn", PASSWORD)
    for again in (browser, Client()):
        refused = again.get(link, follow=True)
        assert refused.status_code == 200
        assert "This link is invalid" in refused.content.decode()
        assert not refused.context["validlink"]


def test_the_reset_page_answers_the_same_for_an_unknown_address(make_user):
    make_user("delenn", email="delenn@example.com")

    known = ask_for_reset(Client(), "delenn@example.com")
    assert len(mail.outbox) == 1
    unknown = ask_for_reset(Client(), "nobody@example.com")

    assert len(mail.outbox) == 1  # none for the unknown address
    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    known_page = Client().get(known["Location"])
    unknown_page = Client().get(unknown["Location"])
    assert known_page.status_code == unknown_page.status_code == 200
    assert known_page.content == unknown_page.content


def test_an_inactive_account_gets_no_email(make_user):
    make_user("zathras", email="zathras@example.com", is_active=False)

    response = ask_for_reset(Client(), "zathras@example.com")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_reset/done/"
    assert mail.outbox == []


class FailingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("the mail server is down")


def test_a_mail_server_that_is_down_does_not_show(make_user, settings, caplog, monkeypatch):
    # An error page only for known addresses would tell which ones have an account.
    make_user("delenn", email="delenn@example.com")
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    auth_log = logging.getLogger("django.contrib.auth")
    monkeypatch.setattr(auth_log, "propagate", True)  # to caplog's handler, at the root

    response = ask_for_reset(Client(), "delenn@example.com")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_reset/done/"
    assert "Failed to send password reset email" in caplog.text
    # ...on the console (settings.LOGGING), which Django's own configuration leaves silent
    # with DEBUG off.
    assert any(isinstance(handler, logging.StreamHandler) for handler in auth_log.handlers)


# --- the pages ---


class Inputs(HTMLParser):
    """The visible inputs of a page, the labels' `for`, the main element's class."""

    def __init__(self):
        super().__init__()
        self.inputs, self.labelled, self.main_class = [], set(), None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") != "hidden":
            self.inputs.append(attrs)
        elif tag == "label":
            self.labelled.add(attrs.get("for"))
        elif tag == "main":
            self.main_class = attrs.get("class")


def parsed(response) -> Inputs:
    page = Inputs()
    page.feed(response.content.decode())
    return page


def test_the_password_pages_are_ours_with_every_input_labelled(andrew, make_user):
    make_user("delenn", email="delenn@example.com")
    browser = Client()
    ask_for_reset(browser, "delenn@example.com")
    set_password_url = browser.get(reset_link(mail.outbox[0]))["Location"]
    pages = [
        signed_in(andrew).get("/accounts/password_change/"),
        Client().get("/accounts/password_reset/"),
        browser.get(set_password_url),
    ]

    for response in pages:
        assert response.status_code == 200
        used = [template.name for template in response.templates]
        assert "base.html" in used and "admin/base.html" not in used, used
        page = parsed(response)
        assert page.main_class == "page narrow"
        assert page.inputs, used[0]
        for field in page.inputs:
            assert field["id"] in page.labelled, (used[0], field)


def test_errors_are_announced_and_tied_to_their_field(andrew):
    response = change(signed_in(andrew), old=PASSWORD, new="short")
    html = response.content.decode()

    assert response.status_code == 200
    field = re.search(r'<input[^>]*name="new_password2"[^>]*>', html).group()
    assert 'aria-invalid="true"' in field
    assert "id_new_password2_error" in field  # aria-describedby
    assert 'id="id_new_password2_error"' in html


def test_the_login_page_links_to_the_reset(client, settings, andrew):
    assert 'href="/accounts/password_reset/"' in client.get("/accounts/login/").content.decode()

    # Also when logging in is paused (users/lockout.py renders the same template).
    settings.AXES_FAILURE_LIMIT = 1
    client.post("/accounts/login/", {"username": "andrewbrown", "password": "wrong"})
    locked = client.post("/accounts/login/", {"username": "andrewbrown", "password": "wrong"})
    assert locked.status_code == 429
    assert 'href="/accounts/password_reset/"' in locked.content.decode()


# --- settings ---

PRINT_EMAIL_SETTINGS = (
    "from django.conf import settings as s; "
    "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, "
    "s.EMAIL_HOST_PASSWORD, s.EMAIL_USE_TLS, s.EMAIL_USE_SSL, s.DEFAULT_FROM_EMAIL, sep='|')"
)


def email_settings(**env) -> list[str]:
    result = run_manage("shell", "-c", PRINT_EMAIL_SETTINGS, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1].split("|")


def test_email_goes_to_the_console_unless_configured(monkeypatch):
    monkeypatch.delenv("EMAIL_URL", raising=False)
    monkeypatch.delenv("DEFAULT_FROM_EMAIL", raising=False)

    backend, *_, sender = email_settings()

    assert backend == "django.core.mail.backends.console.EmailBackend"
    assert sender == "Cruddur <no-reply@cruddur.local>"


def test_email_through_the_smtp_interface_of_ses():
    url = "smtp+tls://AKIAEXAMPLE:pass%2Bword%2Fx@email-smtp.us-east-1.amazonaws.com:587"

    assert email_settings(EMAIL_URL=url, DEFAULT_FROM_EMAIL="Cruddur <hi@example.com>") == [
        "django.core.mail.backends.smtp.EmailBackend",
        "email-smtp.us-east-1.amazonaws.com",
        "587",
        "AKIAEXAMPLE",
        "pass+word/x",
        "True",
        "False",
        "Cruddur <hi@example.com>",
    ]


def test_reset_emails_are_limited_per_address_from_one_client_whether_or_not_it_has_an_account(
    settings, make_user, mailoutbox
):
    settings.PASSWORD_RESET_LIMIT_PER_HOUR = 2
    make_user("known", email="known@example.com")
    client = Client()

    for address in ("known@example.com", "nobody@example.com"):
        answers = [
            client.post("/accounts/password_reset/", {"email": address.upper() if n else address})
            for n in range(3)
        ]
        assert [answer.status_code for answer in answers] == [302, 302, 429]
        refused = answers[-1]
        assert 1 <= int(refused["Retry-After"]) <= 3600
        page = refused.content.decode()
        assert "You can send at most 2 password reset emails to one address an hour." in page
        assert f'value="{address.upper()}"' in page  # what was typed is kept
    assert len(mailoutbox) == 2  # the known address's two; none for the third ask


def test_reset_emails_are_limited_per_client(settings, mailoutbox):
    settings.PASSWORD_RESET_CLIENT_LIMIT_PER_HOUR = 3
    client = Client()

    answers = [
        client.post("/accounts/password_reset/", {"email": f"someone{n}@example.com"})
        for n in range(4)
    ]

    assert [answer.status_code for answer in answers] == [302, 302, 302, 429]


# --- the owner always gets through (issue 20) ---


def ask_from(client_address: str, email: str):
    return ask_for_reset(Client(REMOTE_ADDR=client_address), email)


@pytest.fixture
def reset_limits(settings):
    settings.PASSWORD_RESET_LIMIT_PER_HOUR = 3  # per address, from one client
    settings.PASSWORD_RESET_CLIENT_LIMIT_PER_HOUR = 20
    settings.PASSWORD_RESET_ADDRESS_LIMIT_PER_HOUR = 10  # per address, from every client


def test_a_strangers_resets_from_elsewhere_leave_the_owner_an_email(
    reset_limits, make_user, mailoutbox
):
    make_user("delenn", email="delenn@example.com")
    for stranger in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        answers = [ask_from(stranger, "delenn@example.com").status_code for _ in range(4)]
        assert answers == [302, 302, 302, 429]  # each stranger's own allowance runs out
    assert len(mailoutbox) == 9

    owner = ask_from("198.51.100.7", "DELENN@example.com")

    assert owner.status_code == 302
    assert owner["Location"] == "/accounts/password_reset/done/"
    assert len(mailoutbox) == 10
    assert mailoutbox[-1].to == ["delenn@example.com"]


def test_past_the_address_ceiling_the_owner_is_pointed_to_the_emails_that_work(
    reset_limits, settings, make_user, mailoutbox
):
    settings.PASSWORD_RESET_ADDRESS_LIMIT_PER_HOUR = 2
    make_user("delenn", email="delenn@example.com")
    for stranger in ("192.0.2.1", "192.0.2.2"):
        assert ask_from(stranger, "delenn@example.com").status_code == 302
    assert ask_from("192.0.2.3", "delenn@example.com").status_code == 200
    assert len(mailoutbox) == 2  # the ceiling: no more emails to the address this hour

    owner = ask_from("198.51.100.7", "delenn@example.com")

    assert owner.status_code == 200  # not an error: the emails in the inbox work
    page = owner.content.decode()
    assert "reset emails were already sent to it in the last hour" in page
    assert "Open the newest of them" in page
    assert len(mailoutbox) == 2
    browser = Client()
    set_password_url = browser.get(reset_link(mailoutbox[-1]))["Location"]
    done = browser.post(
        set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done["Location"] == "/accounts/reset/done/"
    assert can_log_in("delenn", NEW_PASSWORD)


def test_the_address_ceiling_answers_the_same_for_an_unknown_address(
    reset_limits, settings, make_user, mailoutbox
):
    settings.PASSWORD_RESET_ADDRESS_LIMIT_PER_HOUR = 1
    make_user("delenn", email="delenn@example.com")
    pages = []
    for address in ("delenn@example.com", "nobody@example.com"):
        assert ask_from("192.0.2.1", address).status_code == 302
        pages.append(ask_from("192.0.2.2", address))

    known, unknown = pages
    assert known.status_code == unknown.status_code == 200
    assert known.content == unknown.content
    assert len(mailoutbox) == 1


def test_the_reset_goes_to_the_verified_holder_of_an_address_only(make_user, mailoutbox):
    # Until someone verified the address, each account that typed it gets the link: its owner
    # may be any of them. Once one verified it, the address is that account's alone.
    make_user("delenn", email="delenn@example.com")
    make_user("stranger", email="Delenn@example.com")

    ask_from("192.0.2.1", "delenn@example.com")
    assert sorted("@delenn" in email.body for email in mailoutbox) == [False, True]
    assert sorted("@stranger" in email.body for email in mailoutbox) == [False, True]

    User.objects.filter(handle="delenn").update(email_verified=True)
    mailoutbox.clear()
    ask_from("192.0.2.1", "delenn@example.com")

    assert len(mailoutbox) == 1
    assert "@delenn" in mailoutbox[0].body
