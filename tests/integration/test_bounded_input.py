"""What a stranger can post is bounded before it reaches the database: a huge value in any
field of the pages open to everyone is a form error (or a plain 4xx), never a 500, and
nothing is written. On Postgres, whose columns have lengths (SQLite's do not)."""

import pytest
from django.test import Client

from tests.helpers import signup_form
from users.models import User

pytestmark = pytest.mark.django_db

HUGE = "x" * 50_000


@pytest.mark.parametrize("size", [256, 10_000, 50_000])
@pytest.mark.parametrize("field", ["handle", "display_name", "email", "time_zone", "password1"])
def test_sign_up_with_an_oversized_field_is_a_form_error(field, size):
    data = signup_form(time_zone="Europe/Paris")
    data[field] = "x" * size + ("@example.com" if field == "email" else "")
    if field == "password1":
        data["password2"] = data["password1"]

    response = Client().post("/accounts/signup/", data)

    if field in ("time_zone", "password1"):  # a hidden field means UTC; any password length
        assert response.status_code in (200, 302)
        return
    assert response.status_code == 200
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/accounts/password_reset/", {"email": HUGE + "@example.com"}),
        ("/accounts/login/", {"username": HUGE, "password": HUGE}),
        (f"/accounts/verify/{HUGE}/", {}),
        (f"/accounts/reset/{HUGE}/{HUGE}/", {"new_password1": HUGE, "new_password2": HUGE}),
    ],
)
def test_the_open_forms_answer_a_huge_value_without_a_server_error(path, data):
    client = Client()
    assert client.get(path).status_code < 500
    assert client.post(path, data).status_code < 500
