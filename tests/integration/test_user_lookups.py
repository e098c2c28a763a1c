"""Handle and email lookups use the case-insensitive indexes (LOWER(handle), LOWER(email)):
`__iexact` compares UPPER(column) on Postgres, which no index holds, and reads every row."""

import pytest
from django.db import connection, transaction

from users.models import User

pytestmark = pytest.mark.django_db


def plan(queryset) -> str:
    # The planner prefers reading a table of a few rows; forbid that to see what it could use.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        return queryset.explain()


@pytest.fixture(autouse=True)
def _postgres():
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN of Postgres indexes")


def test_login_and_recipient_lookups_use_the_handle_index(make_user):
    make_user("andrewbrown")
    assert "users_user_handle_ci_unique" in plan(User.objects.with_handle("AndrewBrown"))
    assert User.objects.get_by_natural_key("@AndrewBrown").handle == "andrewbrown"


def test_email_lookups_use_the_email_index(make_user):
    make_user("andrewbrown", email="Andrew@Example.com")

    assert "users_user_email_lower" in plan(User.objects.with_email("andrew@example.COM"))
    assert User.objects.with_email("ANDREW@example.com").get().handle == "andrewbrown"
