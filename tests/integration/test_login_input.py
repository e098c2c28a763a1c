"""What a stranger types at login is bounded before Postgres sees it: axes' record of a failure
holds a handle of 255 characters, and a longer one used to end in a 500 (DataError)."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.db import connection
from django.db.models.functions import Length
from django.test import Client

pytestmark = pytest.mark.django_db
COLUMN = AccessAttempt._meta.get_field("username").max_length


@pytest.fixture(autouse=True)
def _postgres():
    if connection.vendor != "postgresql":
        pytest.skip("Postgres enforces the column's length; SQLite does not")


def too_long_recorded() -> bool:
    recorded = AccessAttempt.objects.annotate(length=Length("username"))
    return recorded.filter(length__gt=COLUMN).exists()


@pytest.mark.parametrize("length", [256, 10_000, 50_000])
def test_an_over_long_handle_at_login_is_a_form_error(andrew, length):
    response = Client().post("/accounts/login/", {"username": "a" * length, "password": "x"})

    assert response.status_code == 200
    assert "A handle has at most 30 characters." in response.content.decode()
    assert not too_long_recorded()


def test_a_failure_recorded_for_an_over_long_handle_fits_its_column(rf, andrew):
    # Past the form (another way in to authenticate()): the record is cut to fit.
    request = rf.post("/accounts/login/", {"username": "b" * 10_000, "password": "x"})

    assert authenticate(request, username="b" * 10_000, password="x") is None

    assert AccessAttempt.objects.count() == 1
    assert not too_long_recorded()
