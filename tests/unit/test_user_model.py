import pytest
from django.db import IntegrityError, transaction

from users.models import User


def test_handle_is_unique_regardless_of_case(make_user):
    make_user("bayko")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(
            "BayKo", "other@example.com", "pw-12345678", display_name="Imposter"
        )
    assert User.objects.count() == 1


def test_cognito_id_is_unique_when_set(make_user):
    make_user("londo", cognito_user_id="sub-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_user("vir", cognito_user_id="sub-1")


def test_many_users_without_cognito_id(make_user):
    make_user("londo", cognito_user_id="")
    make_user("vir", cognito_user_id=None)
    assert User.objects.filter(cognito_user_id__isnull=True).count() == 2


def test_each_user_has_a_stable_uuid(make_user):
    user = make_user("delenn")
    user.display_name = "Delenn of Minbar"
    user.save()
    user.refresh_from_db()
    assert User.objects.get(handle="delenn").uuid == user.uuid
    assert user.uuid.version == 4


def test_login_lookup_ignores_case(make_user):
    user = make_user("GKar")
    assert User.objects.get_by_natural_key("gkar") == user
