"""The Cognito client and the sync service, against moto in-process (and Postgres)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.integration.cognito_pools import make_pool, person, usernames
from users import cognito
from users.cognito_sync import CognitoDeletion, SubConflict, SubUpdate, sync_cognito_users
from users.models import User
from users.services import delete_account

MORE_THAN_A_PAGE = 75  # ListUsers returns at most 60 per call


@pytest.fixture(autouse=True)
def _fresh_client():
    # Each test gets its own client: event handlers and credentials never leak between tests.
    cognito._build_client.cache_clear()
    yield
    cognito._build_client.cache_clear()


def subs_by_username(pool_id):
    client = cognito.get_client()
    pages = client.get_paginator("list_users").paginate(UserPoolId=pool_id)
    return {
        user["Username"]: next(a["Value"] for a in user["Attributes"] if a["Name"] == "sub")
        for page in pages
        for user in page["Users"]
    }


def record_list_users_calls():
    """The parameters of every ListUsers call the project's client makes from now on."""
    calls = []
    cognito.get_client().meta.events.register(
        "before-parameter-build.cognito-idp.ListUsers",
        lambda params, **kwargs: calls.append(dict(params)),
    )
    return calls


def handles(count):
    return [f"user{i:03}" for i in range(count)]


# --- list_users ---


def test_list_users_follows_every_page_with_at_most_60_per_call(aws_in_process):
    pool_id = make_pool((h, {"preferred_username": h}) for h in handles(MORE_THAN_A_PAGE))
    calls = record_list_users_calls()

    users = cognito.list_users(user_pool_id=pool_id)

    assert sorted(u.username for u in users) == handles(MORE_THAN_A_PAGE)
    assert len({u.sub for u in users}) == MORE_THAN_A_PAGE
    assert len(calls) == 2
    assert all(call["Limit"] <= 60 for call in calls)
    assert "PaginationToken" not in calls[0] and calls[1]["PaginationToken"]


def test_list_users_maps_attributes_and_missing_ones_to_none(aws_in_process):
    pool_id = make_pool(
        [
            ("andrew", {"preferred_username": "AndrewBrown", "email": "andrew@example.com"}),
            ("bare", {}),
        ]
    )
    subs = subs_by_username(pool_id)

    users = {u.username: u for u in cognito.list_users(user_pool_id=pool_id)}

    assert users["andrew"] == cognito.CognitoUser(
        username="andrew",
        sub=subs["andrew"],
        preferred_username="AndrewBrown",
        email="andrew@example.com",
    )
    assert users["bare"] == cognito.CognitoUser(
        username="bare", sub=subs["bare"], preferred_username=None, email=None
    )


def test_list_users_of_an_empty_pool(aws_in_process):
    assert cognito.list_users(user_pool_id=make_pool()) == []


def test_list_users_without_a_pool_id_says_which_setting_to_set(aws_in_process):
    with pytest.raises(cognito.NotConfigured) as raised:
        cognito.list_users(user_pool_id="")
    assert str(raised.value).startswith("AWS_COGNITO_USER_POOL_ID is not set: set it to")


def test_list_users_of_a_missing_pool_names_the_pool_and_region(aws_in_process, settings):
    settings.AWS_DEFAULT_REGION = "eu-west-2"
    with pytest.raises(cognito.UserPoolNotFound) as raised:
        cognito.list_users(user_pool_id="eu-west-2_Missing1")
    assert "eu-west-2_Missing1" in str(raised.value)
    assert "region eu-west-2" in str(raised.value)


def test_unreachable_endpoint_says_to_start_the_local_stack():
    # conftest points AWS_ENDPOINT_URL at port 1: nothing listens there.
    with pytest.raises(cognito.CognitoUnavailable) as raised:
        cognito.list_users(user_pool_id="us-east-1_AbC123")
    assert str(raised.value) == (
        "Cannot reach Cognito at http://127.0.0.1:1: is the local stack running? `make run`"
    )


def test_missing_credentials_give_a_clear_sentence(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    with pytest.raises(cognito.NotConfigured) as raised:
        # Real AWS: the local emulator on this machine gets stand-in credentials instead.
        cognito.list_users(user_pool_id="us-east-1_AbC123", prod=True)
    assert str(raised.value).startswith("No AWS credentials found: set AWS_ACCESS_KEY_ID")


def test_prod_ignores_the_local_endpoint(aws_in_process, settings):
    pool_id = make_pool([("londo", {"preferred_username": "londo"})])
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:1"  # would fail if it were used

    users = cognito.list_users(user_pool_id=pool_id, prod=True)

    assert [u.username for u in users] == ["londo"]


def test_client_uses_standard_retries_and_short_timeouts(settings):
    settings.AWS_MAX_ATTEMPTS = 3
    config = cognito.get_client().meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert config.connect_timeout <= 5 and config.read_timeout <= 15


def test_create_local_user_pool_refuses_without_an_endpoint(settings):
    settings.AWS_ENDPOINT_URL = None
    with pytest.raises(cognito.NotConfigured) as raised:
        cognito.create_local_user_pool(name="cruddur-local", users=[])
    assert "real AWS" in str(raised.value)


# --- sync_cognito_users ---


def linked_subs():
    return dict(User.objects.values_list("handle", "cognito_user_id"))


def test_sync_links_every_user_across_pages_and_reports_the_rest(aws_in_process, make_user):
    for handle in handles(MORE_THAN_A_PAGE):
        make_user(handle)
    make_user("londo")  # not in the pool: left alone
    pool_id = make_pool(
        [person(h, username=f"cognito-{h}") for h in handles(MORE_THAN_A_PAGE)]
        + [
            ("no-pref-1", {"email": "a@example.com"}),
            ("no-pref-2", {}),
            ("stranger", {"preferred_username": "stranger"}),
        ]
    )
    subs = subs_by_username(pool_id)
    calls = record_list_users_calls()

    with CaptureQueriesContext(connection) as queries:
        report = sync_cognito_users(user_pool_id=pool_id)

    expected = {h: subs[f"cognito-{h}"] for h in handles(MORE_THAN_A_PAGE)}
    assert linked_subs() == {**expected, "londo": None}
    assert report.updated == [SubUpdate(h, None, sub) for h, sub in sorted(expected.items())]
    assert report.unchanged == []
    assert report.no_local_user == ["stranger"]
    assert report.missing_attribute == ["no-pref-1", "no-pref-2"]
    assert report.conflicts == []
    assert len(calls) >= 2 and all(call["Limit"] <= 60 for call in calls)
    user_selects = [
        q for q in queries if q["sql"].startswith("SELECT") and "users_user" in q["sql"]
    ]
    # One for the deleted accounts' Cognito users left to delete, one for the candidates.
    assert len(user_selects) == 2, "candidates must be loaded in one query"


def test_second_sync_reports_everyone_unchanged(aws_in_process, make_user):
    for handle in handles(3):
        make_user(handle)
    pool_id = make_pool(person(h) for h in handles(3))
    sync_cognito_users(user_pool_id=pool_id)
    before = linked_subs()

    report = sync_cognito_users(user_pool_id=pool_id)

    assert report.updated == []
    assert report.unchanged == handles(3)
    assert linked_subs() == before


def test_dry_run_reports_but_writes_nothing(aws_in_process, make_user):
    make_user("bayko", cognito_user_id="stale-sub")
    make_user("londo")
    pool_id = make_pool([person("bayko"), ("londo", {})])
    sub = subs_by_username(pool_id)["bayko"]

    report = sync_cognito_users(user_pool_id=pool_id, dry_run=True)

    assert report.dry_run
    assert report.updated == [SubUpdate("bayko", "stale-sub", sub)]
    assert report.missing_attribute == ["londo"]
    assert linked_subs() == {"bayko": "stale-sub", "londo": None}


def test_sync_replaces_a_stale_sub(aws_in_process, make_user):
    make_user("bayko", cognito_user_id="stale-sub")
    pool_id = make_pool([person("bayko")])
    sub = subs_by_username(pool_id)["bayko"]

    report = sync_cognito_users(user_pool_id=pool_id)

    assert report.updated == [SubUpdate("bayko", "stale-sub", sub)]
    assert linked_subs() == {"bayko": sub}


def test_sync_matches_handles_in_any_case(aws_in_process, make_user):
    make_user("andrewbrown")
    make_user("Londo")
    pool_id = make_pool(
        [
            person("AndrewBrown", username="a-uuid-like-username"),
            person("londo", email="LONDO@Example.com"),  # the account's is londo@example.com
        ]
    )
    subs = subs_by_username(pool_id)

    report = sync_cognito_users(user_pool_id=pool_id)

    assert linked_subs() == {"andrewbrown": subs["a-uuid-like-username"], "Londo": subs["londo"]}
    assert [u.handle for u in report.updated] == ["Londo", "andrewbrown"]
    assert report.no_local_user == []


def test_a_sub_already_stored_on_another_user_is_a_conflict(aws_in_process, make_user):
    make_user("andrewbrown")
    make_user("londo")
    pool_id = make_pool([person("andrewbrown"), person("londo")])
    subs = subs_by_username(pool_id)
    # bayko is not in the pool but holds andrewbrown's sub (e.g. a handle renamed locally).
    make_user("bayko", cognito_user_id=subs["andrewbrown"])

    report = sync_cognito_users(user_pool_id=pool_id)

    assert [c.handle for c in report.conflicts] == ["andrewbrown"]
    assert subs["andrewbrown"] in report.conflicts[0].reason
    assert "@bayko" in report.conflicts[0].reason
    assert report.updated == [SubUpdate("londo", None, subs["londo"])]
    assert linked_subs() == {
        "andrewbrown": None,
        "bayko": subs["andrewbrown"],
        "londo": subs["londo"],
    }


def test_a_conflict_blocks_a_chain_of_moves(aws_in_process, make_user):
    # alice wants bob's sub; bob wants carol's; carol is not in the pool and keeps hers.
    pool_id = make_pool([person("alice"), person("bob"), ("carol", {})])
    subs = subs_by_username(pool_id)
    make_user("alice")
    make_user("bob", cognito_user_id=subs["alice"])
    make_user("carol", cognito_user_id=subs["bob"])

    report = sync_cognito_users(user_pool_id=pool_id)

    assert [c.handle for c in report.conflicts] == ["alice", "bob"]
    assert report.updated == []
    assert linked_subs() == {"alice": None, "bob": subs["alice"], "carol": subs["bob"]}


def test_users_swapping_subs_are_both_updated(aws_in_process, make_user):
    pool_id = make_pool([person("alice"), person("bob")])
    subs = subs_by_username(pool_id)
    make_user("alice", cognito_user_id=subs["bob"])
    make_user("bob", cognito_user_id=subs["alice"])

    report = sync_cognito_users(user_pool_id=pool_id)

    assert report.conflicts == []
    assert linked_subs() == {"alice": subs["alice"], "bob": subs["bob"]}


def test_a_preferred_username_shared_by_two_cognito_users_is_a_conflict(aws_in_process, make_user):
    make_user("bayko")
    pool_id = make_pool([person("bayko", username="b1"), person("Bayko", username="b2")])

    report = sync_cognito_users(user_pool_id=pool_id)

    assert [c.handle for c in report.conflicts] == ["bayko"]
    assert "b1, b2" in report.conflicts[0].reason
    assert linked_subs() == {"bayko": None}


def test_sync_errors_write_nothing(aws_in_process, make_user):
    make_user("bayko", cognito_user_id="kept")
    with pytest.raises(cognito.UserPoolNotFound):
        sync_cognito_users(user_pool_id="us-east-1_Missing1")
    assert linked_subs() == {"bayko": "kept"}


def test_sync_leaves_deleted_and_deactivated_accounts_unlinked(aws_in_process, make_user):
    # bayko deleted their account (unlinked); a pool user still names the retired handle,
    # with the address bayko had. londo is deactivated, address and all.
    bayko = make_user("bayko")
    delete_account(bayko)
    make_user("londo", is_active=False)
    pool_id = make_pool([person("bayko"), person("londo")])

    report = sync_cognito_users(user_pool_id=pool_id)

    assert linked_subs() == {"bayko": None, "londo": None}
    assert report.not_linked == [
        SubConflict("bayko", "the account is deleted"),
        SubConflict("londo", "the account is deactivated"),
    ]
    assert report.updated == report.unchanged == report.conflicts == []


def test_a_preferred_username_without_the_accounts_email_is_not_linked(aws_in_process, make_user):
    make_user("bayko", cognito_user_id="kept")
    make_user("londo")
    make_user("vir")
    pool_id = make_pool(
        [
            person("bayko", username="impostor", email="someone-else@example.com"),
            ("no-email", {"preferred_username": "londo"}),
            person("vir"),
        ]
    )

    report = sync_cognito_users(user_pool_id=pool_id)

    assert report.conflicts == [
        SubConflict(
            "bayko",
            "Cognito user impostor has this preferred_username but another email address, "
            "so it may be someone else",
        ),
        SubConflict(
            "londo",
            "Cognito user no-email has this preferred_username but no email address, "
            "so it may be someone else",
        ),
    ]
    assert linked_subs() == {
        "bayko": "kept",
        "londo": None,
        "vir": subs_by_username(pool_id)["vir"],
    }


# --- deleting an account deletes its Cognito user ---


def record_calls(*operations):
    """The names of the given Cognito operations the project's client calls, in order."""
    calls = []
    for operation in operations:
        cognito.get_client().meta.events.register(
            f"before-call.cognito-idp.{operation}",
            lambda model, **kwargs: calls.append(model.name),
        )
    return calls


def test_deleting_a_linked_account_disables_then_deletes_its_cognito_user(
    aws_in_process, make_user, settings, django_capture_on_commit_callbacks
):
    bayko, londo = make_user("bayko"), make_user("londo")
    pool_id = settings.AWS_COGNITO_USER_POOL_ID = make_pool(
        [person("bayko", username="b-1"), person("londo")]
    )
    sync_cognito_users(user_pool_id=pool_id)
    calls = record_calls("AdminDisableUser", "AdminDeleteUser")

    with django_capture_on_commit_callbacks(execute=True):
        delete_account(User.objects.get(pk=bayko.pk))
        assert calls == []  # nothing reaches Cognito before the commit

    assert calls == ["AdminDisableUser", "AdminDeleteUser"]
    assert usernames(pool_id) == {"londo": True}
    bayko.refresh_from_db()
    assert bayko.deleted_at is not None and bayko.cognito_user_id is None
    londo.refresh_from_db()
    assert londo.cognito_user_id == subs_by_username(pool_id)["londo"]


def test_deleting_an_account_without_a_pool_or_a_link_calls_no_one(
    make_user, settings, django_capture_on_commit_callbacks
):
    linked, unlinked = make_user("bayko", cognito_user_id="sub-bayko"), make_user("londo")
    calls = record_calls("ListUsers", "AdminDisableUser", "AdminDeleteUser")

    with django_capture_on_commit_callbacks(execute=True):
        delete_account(linked)  # no pool configured
        settings.AWS_COGNITO_USER_POOL_ID = "us-east-1_AbC123"
        delete_account(unlinked)  # a pool, but no link

    assert calls == []
    linked.refresh_from_db()
    assert linked.cognito_user_id == "sub-bayko"  # kept: cognito_sync finishes it


def test_with_cognito_unreachable_the_deletion_completes_and_sync_finishes_it(
    aws_in_process, make_user, settings, django_capture_on_commit_callbacks, caplog
):
    bayko = make_user("bayko")
    pool_id = settings.AWS_COGNITO_USER_POOL_ID = make_pool([person("bayko")])
    sub = subs_by_username(pool_id)["bayko"]
    sync_cognito_users(user_pool_id=pool_id)
    settings.AWS_ENDPOINT_URL, settings.AWS_MAX_ATTEMPTS = "http://127.0.0.1:1", 1

    with django_capture_on_commit_callbacks(execute=True):
        delete_account(User.objects.get(pk=bayko.pk))

    bayko.refresh_from_db()
    assert bayko.deleted_at is not None and not bayko.is_active and bayko.email == ""
    assert bayko.cognito_user_id == sub  # what the retry needs
    [record] = [r for r in caplog.records if r.name == "users.services"]
    assert str(bayko.uuid) in record.getMessage() and "bayko" not in record.getMessage()
    assert "cognito_sync" in record.getMessage()
    settings.AWS_ENDPOINT_URL = None  # Cognito is back
    assert usernames(pool_id) == {"bayko": True}

    dry = sync_cognito_users(user_pool_id=pool_id, dry_run=True)
    assert dry.deletions_finished == [CognitoDeletion(str(bayko.uuid), None)]
    assert usernames(pool_id) == {"bayko": True}

    report = sync_cognito_users(user_pool_id=pool_id)

    assert report.deletions_finished == [CognitoDeletion(str(bayko.uuid), True)]
    assert usernames(pool_id) == {}
    bayko.refresh_from_db()
    assert bayko.cognito_user_id is None
    assert sync_cognito_users(user_pool_id=pool_id).deletions_finished == []


def test_delete_user_of_a_user_already_gone_counts_as_done(aws_in_process):
    pool_id = make_pool([person("bayko")])
    sub = subs_by_username(pool_id)["bayko"]

    assert cognito.delete_user(user_pool_id=pool_id, sub=sub) is True
    assert cognito.delete_user(user_pool_id=pool_id, sub=sub) is False
    assert usernames(pool_id) == {}
