"""Email addresses verified by a signed link (users/verification.py), sent at sign-up and when
the address changes in Settings. Until verified an address holds nothing: its owner can still
sign up with it or claim it, and the first account to verify it keeps it."""

import logging
import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.helpers import signed_in, signup
from users import verification
from users.models import User
from users.seeding import seed_users

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-42"  # make_user's
LINK = re.compile(r"https?://testserver(/accounts/verify/[^/\s]+/)")


# The links are sent once the account's row is committed: these tests commit, as a request does.
commits = pytest.mark.django_db(transaction=True)


def verification_link(message) -> str:
    found = LINK.findall(message.body)
    assert len(found) == 1, message.body
    return found[0]


def link_for(user) -> str:
    return reverse("verify_email", args=[verification.make_token(user)])


def change_email(client, user, email):
    return client.post(
        "/accounts/settings/",
        {
            "section": "profile",
            "handle": user.handle,
            "display_name": user.display_name,
            "bio": user.bio,
            "email": email,
            "current_password": PASSWORD,
            "time_zone": user.time_zone,
        },
    )


# --- the link ---


@commits
def test_sign_up_sends_a_link_that_verifies_the_address_with_a_button(settings):
    browser = Client()
    response = browser.post(
        reverse("signup"),
        {
            "handle": "delenn",
            "display_name": "Delenn",
            "email": "Delenn@example.com",
            "password1": "a-long-pass-phrase-42",
            "password2": "a-long-pass-phrase-42",
        },
    )
    assert response.status_code == 302
    delenn = User.objects.get(handle="delenn")
    assert not delenn.email_verified
    [email] = mail.outbox
    assert email.to == ["Delenn@example.com"]
    assert email.from_email == settings.DEFAULT_FROM_EMAIL
    assert email.subject == "Verify your email address for Cruddur"
    assert "@delenn" in email.body
    link = verification_link(email)

    # Opening the link (a mail scanner does) changes nothing: the button does.
    page = browser.get(link)
    assert page.status_code == 200
    assert '<button type="submit" class="button primary">Verify</button>' in page.content.decode()
    delenn.refresh_from_db()
    assert not delenn.email_verified
    verified = browser.post(link, follow=True)

    assert verified.redirect_chain == [("/accounts/settings/", 302)]
    assert "Your email address Delenn@example.com is verified." in verified.content.decode()
    assert "Verified." in verified.content.decode()
    delenn.refresh_from_db()
    assert delenn.email_verified


def test_the_link_works_signed_out(make_user):
    delenn = make_user("delenn")

    response = Client().post(link_for(delenn), follow=True)

    assert response.redirect_chain == [("/accounts/login/", 302)]
    assert "Your email address delenn@example.com is verified." in response.content.decode()
    delenn.refresh_from_db()
    assert delenn.email_verified


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_bad_or_expired_link_says_how_to_get_a_new_one(make_user, settings, method):
    delenn = make_user("delenn")
    good = link_for(delenn)
    tampered = good[:-2] + ("A" if good[-2] != "A" else "B") + "/"
    answers = [getattr(Client(), method)(link) for link in (tampered, "/accounts/verify/x/")]
    settings.EMAIL_VERIFICATION_TIMEOUT = -1  # every link made so far has expired
    answers.append(getattr(Client(), method)(good))

    for response in answers:
        assert response.status_code == 400
        page = response.content.decode()
        assert "This link does not work" in page
        assert "Send the link again" in page
    delenn.refresh_from_db()
    assert not delenn.email_verified


def test_a_link_dies_when_the_address_changes(make_user):
    delenn = make_user("delenn")
    old_link = link_for(delenn)
    delenn.email = "delenn@minbar.example"
    delenn.save()

    assert Client().post(old_link).status_code == 400
    delenn.refresh_from_db()
    assert not delenn.email_verified


def test_the_first_account_to_verify_an_address_keeps_it(make_user):
    stranger = make_user("stranger", email="delenn@example.com")
    delenn = make_user("delenn", email="Delenn@Example.com")
    first, second = link_for(delenn), link_for(stranger)

    assert Client().post(first).status_code == 302
    refused = Client().post(second)

    assert refused.status_code == 409
    assert "Another account has already verified delenn@example.com" in refused.content.decode()
    assert "nothing was changed" in refused.content.decode()
    stranger.refresh_from_db()
    assert not stranger.email_verified


def test_a_verification_that_loses_the_race_changes_nothing(make_user, monkeypatch):
    # Both checked before either wrote: the database's constraint refuses the second.
    make_user("delenn", email="delenn@example.com", email_verified=True)
    stranger = make_user("stranger", email="delenn@example.com")
    monkeypatch.setattr(verification, "verified_by_another", lambda user: False)

    refused = Client().post(link_for(stranger))

    assert refused.status_code == 409
    assert "Another account has already verified" in refused.content.decode()
    stranger.refresh_from_db()
    assert not stranger.email_verified


# --- an unverified address blocks no one ---


@commits
def test_the_owner_signs_up_with_an_address_a_stranger_registered_unverified(make_user):
    make_user("stranger", email="delenn@example.com")

    response = signup(handle="delenn", email="Delenn@example.com")

    assert response.status_code == 302
    assert User.objects.with_email("delenn@example.com").count() == 2
    assert [email.to for email in mail.outbox] == [["Delenn@example.com"]]


def test_an_address_another_account_verified_is_refused(make_user):
    make_user("delenn", email="delenn@example.com", email_verified=True)
    stranger = make_user("stranger")

    at_signup = signup(email="DELENN@example.com")
    in_settings = change_email(signed_in(stranger), stranger, "Delenn@Example.com")

    for response, typed in ((at_signup, "DELENN@example.com"), (in_settings, "Delenn@Example.com")):
        assert response.status_code == 200
        html = response.content.decode()
        assert "An account with this email address already exists." in html
        assert f'value="{typed}"' in html  # what was typed is kept
    assert not User.objects.filter(handle="newperson").exists()
    stranger.refresh_from_db()
    assert stranger.email == "stranger@example.com"


@commits
def test_an_address_is_claimed_in_settings_while_unverified(make_user):
    make_user("stranger", email="delenn@example.com")
    delenn = make_user("delenn", email="delenn@old.example")

    response = change_email(signed_in(delenn), delenn, "delenn@example.com")

    assert response.status_code == 302
    delenn.refresh_from_db()
    assert delenn.email == "delenn@example.com"


# --- Settings ---


@commits
def test_changing_the_address_unverifies_it_and_sends_a_link_to_the_new_one(make_user):
    delenn = make_user("delenn", email_verified=True)
    client = signed_in(delenn)
    old_link = link_for(delenn)

    response = change_email(client, delenn, "delenn@minbar.example")

    assert response.status_code == 302
    delenn.refresh_from_db()
    assert not delenn.email_verified
    [email] = mail.outbox
    assert email.to == ["delenn@minbar.example"]
    page = client.get("/accounts/settings/").content.decode()
    assert "We sent a link to delenn@minbar.example" in page
    assert "Not verified yet" in page
    assert Client().post(old_link).status_code == 400
    assert Client().post(verification_link(email)).status_code == 302
    delenn.refresh_from_db()
    assert delenn.email_verified


@commits
def test_another_capitalisation_of_the_same_address_stays_verified(make_user):
    delenn = make_user("delenn", email_verified=True)

    change_email(signed_in(delenn), delenn, "Delenn@Example.com")

    delenn.refresh_from_db()
    assert (delenn.email, delenn.email_verified) == ("Delenn@Example.com", True)
    assert mail.outbox == []


def test_settings_show_the_state_and_send_the_link_again_a_few_times_an_hour(make_user, settings):
    settings.EMAIL_VERIFICATION_LIMIT_PER_HOUR = 2
    delenn = make_user("delenn")
    client = signed_in(delenn)
    page = client.get("/accounts/settings/").content.decode()
    assert "Not verified yet" in page
    assert "Send the link again" in page

    answers = [client.post("/accounts/settings/", {"section": "verification"}) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [302, 302, 429]
    refused = answers[-1]
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert "You can send at most 2 verification emails an hour." in refused.content.decode()
    assert [email.to for email in mail.outbox] == [["delenn@example.com"]] * 2
    Client().post(verification_link(mail.outbox[-1]))
    page = client.get("/accounts/settings/").content.decode()
    assert "Verified." in page
    assert "Send the link again" not in page


class FailingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("the mail server is down")


@commits
def test_an_email_that_cannot_be_sent_is_logged_not_a_500(settings, caplog):
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"

    with caplog.at_level(logging.ERROR, logger="users.verification"):
        response = signup(handle="delenn", email="delenn@example.com")

    assert response.status_code == 302
    assert "Failed to send the email address verification link to @delenn" in caplog.text


# --- who may be emailed, the seed users, the admin ---


def test_only_a_verified_address_may_receive_other_email(make_user):
    assert not make_user("delenn").may_receive_email
    assert make_user("lennier", email_verified=True).may_receive_email
    assert not User(handle="kosh", email="", email_verified=True).may_receive_email


def test_seed_users_are_verified():
    seed_users()

    assert set(User.objects.values_list("email_verified", flat=True)) == {True}


def test_the_admin_shows_and_filters_on_verification(client, make_user):
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    delenn = make_user("delenn", email_verified=True)
    make_user("stranger")
    changelist = reverse("admin:users_user_changelist")

    verified = client.get(changelist, {"email_verified__exact": "1"}).context["cl"].queryset
    change_page = client.get(reverse("admin:users_user_change", args=[delenn.pk]))

    assert [user.handle for user in verified] == ["delenn"]
    assert 'name="email_verified"' in change_page.content.decode()
