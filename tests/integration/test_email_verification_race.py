"""Two accounts verifying one address at the same moment, on Postgres with real threads: the
first keeps it and the other is told so, with nothing changed (users/verification.py)."""

import threading

import pytest
from django.db import connections

from tests.helpers import at_once
from users import verification
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_accounts_verifying_one_address_at_once_leave_it_to_one(make_user, monkeypatch):
    claimants = [make_user(f"claimant{n}", email="Delenn@example.com") for n in range(2)]
    both_checked = threading.Barrier(2, timeout=10)
    check = verification.verified_by_another

    def checked_together(user):
        # Both see the address free before either writes: the database decides.
        free = check(user)
        both_checked.wait()
        return free

    monkeypatch.setattr(verification, "verified_by_another", checked_together)

    def verify(n):
        try:
            return verification.verify(User.objects.get(pk=claimants[n].pk))
        finally:
            connections.close_all()

    assert sorted(at_once(2, verify)) == [False, True]
    assert User.objects.filter(email_verified=True).count() == 1
