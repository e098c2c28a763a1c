import pytest
from django.urls import reverse

from users.models import User

pytestmark = pytest.mark.django_db

SIGNUP = {
    "handle": "sheridan",
    "display_name": "John Sheridan",
    "email": "john@example.com",
    "password1": "babylon-5-station",
    "password2": "babylon-5-station",
}


def test_root_sends_visitors_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("login")


def test_root_sends_signed_in_users_to_messages(client, make_user):
    client.force_login(make_user("ivanova"))
    assert client.get("/")["Location"] == "/messages/"


def test_signup_creates_user_and_logs_in(client):
    response = client.post(reverse("signup"), SIGNUP)
    assert response.status_code == 302
    assert response["Location"] == "/messages/"
    user = User.objects.get(handle="sheridan")
    assert user.display_name == "John Sheridan"
    assert user.check_password("babylon-5-station")
    assert client.session["_auth_user_id"] == str(user.pk)


@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        ({"handle": "SHERIDAN"}, "handle", "That handle is already taken."),
        ({"handle": "john sheridan!"}, "handle", "only letters, digits and underscores"),
        ({"password2": "something-else-1"}, "password2", "didn’t match"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"display_name": ""}, "display_name", "This field is required."),
    ],
)
def test_signup_errors_keep_what_was_typed(client, make_user, change, field, error):
    make_user("sheridan")
    data = {**SIGNUP, "handle": "jsheridan", **change}
    response = client.post(reverse("signup"), data)
    assert response.status_code == 200
    form = response.context["form"]
    assert any(error in message for message in form.errors[field])
    html = response.content.decode()
    for kept in ("handle", "display_name", "email"):
        if data[kept]:
            assert f'value="{data[kept]}"' in html
    assert "babylon-5-station" not in html  # passwords are never echoed
    assert User.objects.count() == 1


def test_login_with_handle_in_any_case(client, make_user):
    make_user("garibaldi", password="security-chief-1")
    response = client.post(
        reverse("login"), {"username": "Garibaldi", "password": "security-chief-1"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/messages/"


def test_login_wrong_password_keeps_handle(client, make_user):
    make_user("garibaldi", password="security-chief-1")
    response = client.post(reverse("login"), {"username": "garibaldi", "password": "nope"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Please enter a correct handle and password" in html
    assert 'value="garibaldi"' in html
    assert "_auth_user_id" not in client.session


def test_login_honours_next(client, make_user):
    make_user("franklin", password="doctor-doctor-1")
    response = client.post(
        reverse("login") + "?next=/admin/",
        {"username": "franklin", "password": "doctor-doctor-1", "next": "/messages/"},
    )
    assert response["Location"] == "/messages/"


def test_logout_only_by_post(client, make_user):
    client.force_login(make_user("lennier"))
    assert client.get(reverse("logout")).status_code == 405
    assert "_auth_user_id" in client.session
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_base_layout_shows_user_messages_link_and_logout(client, make_user, memory_store):
    client.force_login(make_user("talia", display_name="Talia Winters"))
    html = client.get("/messages/").content.decode()
    assert "Talia Winters" in html
    assert "@talia" in html
    assert 'href="/messages/"' in html
    assert f'action="{reverse("logout")}"' in html
