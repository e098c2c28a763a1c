import pytest
from django.urls import reverse

from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    return client


def test_admin_refuses_non_staff(client, make_user):
    client.force_login(make_user("zathras"))
    response = client.get(reverse("admin:users_user_changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_admin_login_page_for_visitors(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302


def test_changelist_columns_search_and_cognito_filter(staff_client, make_user):
    make_user("marcus", display_name="Marcus Cole", cognito_user_id="sub-marcus")
    make_user("vir", display_name="Vir Cotto")
    url = reverse("admin:users_user_changelist")

    html = staff_client.get(url).content.decode()
    for column in ("Handle", "Display name", "Email", "Cognito id", "Joined", "Staff"):
        assert column in html

    found = staff_client.get(url, {"q": "sub-marcus"}).context["cl"].queryset
    assert [u.handle for u in found] == ["marcus"]
    found = staff_client.get(url, {"q": "Cotto"}).context["cl"].queryset
    assert [u.handle for u in found] == ["vir"]

    linked = staff_client.get(url, {"cognito": "linked"}).context["cl"].queryset
    assert {u.handle for u in linked} == {"marcus"}
    unlinked = staff_client.get(url, {"cognito": "unlinked"}).context["cl"].queryset
    assert {u.handle for u in unlinked} == {"admin", "vir"}


def test_admin_creates_user_with_password(staff_client):
    response = staff_client.post(
        reverse("admin:users_user_add"),
        {
            "handle": "kosh",
            "display_name": "Kosh Naranek",
            "email": "kosh@example.com",
            "password1": "vorlon-ambassador",
            "password2": "vorlon-ambassador",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    kosh = User.objects.get(handle="kosh")
    assert kosh.check_password("vorlon-ambassador")
    assert kosh.cognito_user_id is None


def test_admin_refuses_handle_taken_in_other_case(staff_client, make_user):
    make_user("kosh")
    response = staff_client.post(
        reverse("admin:users_user_add"),
        {
            "handle": "KOSH",
            "display_name": "Kosh",
            "email": "k@example.com",
            "password1": "vorlon-ambassador",
            "password2": "vorlon-ambassador",
        },
    )
    assert response.status_code == 200
    assert "That handle is already taken." in response.content.decode()


def test_admin_edits_user(staff_client, make_user):
    user = make_user("ulkesh", display_name="Ulkesh")
    url = reverse("admin:users_user_change", args=[user.pk])
    form = staff_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(
        display_name="Ulkesh Naranek",
        cognito_user_id="",
        date_joined_0=user.date_joined.strftime("%Y-%m-%d"),
        date_joined_1=user.date_joined.strftime("%H:%M:%S"),
    )
    data.pop("groups", None)
    data.pop("user_permissions", None)
    data.pop("password", None)
    data.pop("last_login", None)
    data.pop("date_joined", None)
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.display_name == "Ulkesh Naranek"
    assert user.cognito_user_id is None
