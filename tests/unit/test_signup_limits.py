"""Sign-up is limited per client address (SIGNUP_LIMIT_PER_HOUR), counting only sign-ups
that would create an account, so typos use up nothing."""

import pytest
from django.test import Client
from django.urls import reverse

from users.models import User

pytestmark = pytest.mark.django_db


def sign_up_from(client_address: str, n: int, **headers):
    """A new browser at `client_address` signs up person n."""
    return Client(REMOTE_ADDR=client_address, **headers).post(
        reverse("signup"),
        {
            "handle": f"person{n}",
            "display_name": f"Person {n}",
            "email": f"person{n}@example.com",
            "password1": "a-long-pass-phrase-42",
            "password2": "a-long-pass-phrase-42",
        },
    )


def test_the_sign_up_past_the_limit_from_one_address_waits_and_keeps_the_form(settings):
    settings.SIGNUP_LIMIT_PER_HOUR = 3

    answers = [sign_up_from("203.0.113.5", n) for n in range(4)]

    assert [answer.status_code for answer in answers] == [302, 302, 302, 429]
    refused = answers[-1]
    assert 1 <= int(refused["Retry-After"]) <= 3600
    page = refused.content.decode()
    assert "Too many accounts were created from your network in the last hour." in page
    assert "You can sign up again in " in page
    for kept in ('value="person3"', 'value="Person 3"', 'value="person3@example.com"'):
        assert kept in page
    assert "a-long-pass-phrase-42" not in page
    assert not User.objects.filter(handle="person3").exists()
    # Another address still signs up.
    assert sign_up_from("203.0.113.6", 4).status_code == 302
    assert User.objects.count() == 4


def test_sign_ups_the_form_refuses_use_up_nothing(settings):
    settings.SIGNUP_LIMIT_PER_HOUR = 1
    client = Client(REMOTE_ADDR="203.0.113.5")
    for typo in ({"password2": "something-else-1"}, {"email": "not-an-email"}):
        data = {
            "handle": "delenn",
            "display_name": "Delenn",
            "email": "delenn@example.com",
            "password1": "a-long-pass-phrase-42",
            "password2": "a-long-pass-phrase-42",
            **typo,
        }
        assert client.post(reverse("signup"), data).status_code == 200

    assert sign_up_from("203.0.113.5", 1).status_code == 302
    assert sign_up_from("203.0.113.5", 2).status_code == 429


def test_behind_the_proxy_each_client_address_counts_for_itself(settings):
    # BEHIND_TLS_PROXY: the address is the one the proxy appended to X-Forwarded-For.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SIGNUP_LIMIT_PER_HOUR = 1

    def via_proxy(forwarded_for, n):
        return sign_up_from("10.0.0.2", n, HTTP_X_FORWARDED_FOR=forwarded_for)

    assert via_proxy("203.0.113.5", 1).status_code == 302
    assert via_proxy("198.51.100.1, 203.0.113.5", 2).status_code == 429  # the first is made up
    assert via_proxy("203.0.113.6", 3).status_code == 302
