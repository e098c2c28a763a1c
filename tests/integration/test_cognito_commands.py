"""The Cognito commands, through call_command against moto's HTTP server (and Postgres)."""

import json
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError

from tests.integration.cognito_pools import make_pool, person, usernames
from users import cognito
from users.models import User
from users.seeding import SEED_USERS, seed_users
from users.services import delete_account

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("cognito_list_users", "cognito_sync", "cognito_local_pool")
MORE_THAN_A_PAGE = 75  # ListUsers returns at most 60 per call


@pytest.fixture(autouse=True)
def _fresh_client():
    # Each test gets its own client: event handlers registered by a test never leak.
    cognito._build_client.cache_clear()
    yield
    cognito._build_client.cache_clear()


def run(name, *args):
    """Run a command; returns (stdout, stderr)."""
    stdout, stderr = StringIO(), StringIO()
    call_command(name, *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def pool_users(pool_id):
    return {u.username: u for u in cognito.list_users(user_pool_id=pool_id)}


def record_list_users_limits():
    limits = []
    cognito.get_client().meta.events.register(
        "before-parameter-build.cognito-idp.ListUsers",
        lambda params, **kwargs: limits.append(params["Limit"]),
    )
    return limits


def handles(count):
    return [f"user{i:03}" for i in range(count)]


@pytest.fixture
def big_pool(moto_endpoint):
    """75 users with preferred_username and email, one without, one with no local match."""
    return make_pool(
        [person(h, username=f"cognito-{h}") for h in handles(MORE_THAN_A_PAGE)]
        + [("no-pref", {"email": "nopref@example.com"}), ("stranger", {"preferred_username": "x"})]
    )


def assert_one_sentence(error):
    message = str(error)
    assert message and "\n" not in message and "Traceback" not in message


# --- --help ---


@pytest.mark.parametrize("name", COMMANDS)
def test_help_works(name, capsys):
    with pytest.raises(SystemExit) as exited:
        call_command(name, "--help")
    assert exited.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert f"usage: {name} [-h] [--prod]" in help_text
    assert " ".join(load_command_class("users", name).help.split()) in help_text


# --- cognito_list_users ---


def test_list_users_prints_the_whole_map_as_sorted_json(big_pool, settings):
    settings.AWS_COGNITO_USER_POOL_ID = big_pool  # the option's default
    limits = record_list_users_limits()

    out, err = run("cognito_list_users")

    subs = {
        u.preferred_username: u.sub for u in pool_users(big_pool).values() if u.preferred_username
    }
    assert len(subs) == MORE_THAN_A_PAGE + 1
    assert json.loads(out) == subs
    assert out == json.dumps(subs, sort_keys=True, indent=2) + "\n"
    assert "without preferred_username" in err and "no-pref" in err
    assert len(limits) > 1 and max(limits) <= 60


def test_list_users_option_overrides_the_setting(moto_endpoint, settings):
    settings.AWS_COGNITO_USER_POOL_ID = "us-east-1_NotThis1"
    pool_id = make_pool([("londo", {"preferred_username": "londo"})])

    out, err = run("cognito_list_users", "--user-pool-id", pool_id)

    assert list(json.loads(out)) == ["londo"]
    assert err == ""


# --- cognito_sync ---


def test_sync_links_every_page_and_prints_a_report(big_pool, make_user):
    for handle in handles(MORE_THAN_A_PAGE):
        make_user(handle)
    limits = record_list_users_limits()

    out, _ = run("cognito_sync", "--user-pool-id", big_pool)

    subs = {u.preferred_username: u.sub for u in pool_users(big_pool).values()}
    linked = dict(User.objects.values_list("handle", "cognito_user_id"))
    assert linked == {h: subs[h] for h in handles(MORE_THAN_A_PAGE)}
    assert len(limits) > 1 and max(limits) <= 60
    assert f"Updated: {MORE_THAN_A_PAGE}\n" in out
    assert f"  @user000: (none) -> {subs['user000']}\n" in out
    assert "Unchanged: 0\n" in out
    assert "No local user for preferred_username: 1\n  x\n" in out
    assert "Missing preferred_username (Cognito usernames): 1\n  no-pref\n" in out
    assert "Cognito users of deleted accounts deleted: 0\n" in out
    assert "Deleted or deactivated accounts, left alone: 0\n" in out
    assert "Conflicts, left alone: 0\n" in out
    assert out.endswith(f"Cognito sync done: updated {MORE_THAN_A_PAGE}, unchanged 0.\n")


def test_sync_twice_reports_unchanged(moto_endpoint, make_user, settings):
    make_user("bayko")
    settings.AWS_COGNITO_USER_POOL_ID = make_pool(
        [person("BAYKO", username="Bayko", email="Bayko@Example.com")]
    )
    run("cognito_sync")
    linked = User.objects.get(handle="bayko").cognito_user_id
    assert linked

    out, _ = run("cognito_sync")

    assert "Updated: 0\n" in out and "Unchanged: 1\n  @bayko\n" in out
    assert User.objects.get(handle="bayko").cognito_user_id == linked


def test_sync_dry_run_writes_nothing(moto_endpoint, make_user, settings):
    make_user("bayko")
    settings.AWS_COGNITO_USER_POOL_ID = make_pool([person("bayko")])

    out, _ = run("cognito_sync", "--dry-run")

    assert "Would update: 1\n  @bayko: (none) -> " in out
    assert "Dry run, nothing written: would update 1, unchanged 0." in out
    assert User.objects.get(handle="bayko").cognito_user_id is None


def test_sync_reports_a_conflict_instead_of_crashing(moto_endpoint, make_user, settings):
    pool_id = make_pool([person("andrewbrown")])
    settings.AWS_COGNITO_USER_POOL_ID = pool_id
    sub = pool_users(pool_id)["andrewbrown"].sub
    make_user("andrewbrown")
    make_user("bayko", cognito_user_id=sub)

    out, _ = run("cognito_sync")

    assert (
        f"Conflicts, left alone: 1\n  @andrewbrown: its sub {sub} is already stored on @bayko\n"
        in out
    )
    assert User.objects.get(handle="andrewbrown").cognito_user_id is None


def test_sync_prod_ignores_the_local_endpoint(aws_in_process, make_user, settings):
    make_user("londo")
    pool_id = make_pool([person("londo")])  # in moto's fake AWS
    sub = pool_users(pool_id)["londo"].sub
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:1"  # would fail if it were used

    run("cognito_sync", "--prod", "--user-pool-id", pool_id)

    assert User.objects.get(handle="londo").cognito_user_id == sub


def test_sync_leaves_a_deleted_account_unlinked_under_its_retired_handle(
    moto_endpoint, make_user, settings
):
    # A pool user named after bayko's retired handle, with the address bayko had.
    delete_account(make_user("bayko"))
    settings.AWS_COGNITO_USER_POOL_ID = make_pool([person("bayko")])

    out, _ = run("cognito_sync")

    assert (
        "Deleted or deactivated accounts, left alone: 1\n  @bayko: the account is deleted\n" in out
    )
    assert "Updated: 0\n" in out
    assert User.objects.get(handle="bayko").cognito_user_id is None


def test_sync_reports_a_preferred_username_with_another_email_and_links_nothing(
    moto_endpoint, make_user, settings
):
    make_user("bayko")
    settings.AWS_COGNITO_USER_POOL_ID = make_pool(
        [person("bayko", username="impostor", email="attacker@example.com")]
    )

    out, _ = run("cognito_sync")

    assert (
        "Conflicts, left alone: 1\n  @bayko: Cognito user impostor has this preferred_username "
        "but another email address, so it may be someone else\n"
    ) in out
    assert out.endswith("Cognito sync done: updated 0, unchanged 0.\n")
    assert User.objects.get(handle="bayko").cognito_user_id is None


def test_sync_finishes_a_deletion_cognito_missed(
    moto_endpoint, make_user, settings, django_capture_on_commit_callbacks
):
    bayko = make_user("bayko")
    make_user("londo")
    pool_id = settings.AWS_COGNITO_USER_POOL_ID = make_pool([person("bayko"), person("londo")])
    run("cognito_sync")
    sub = User.objects.get(handle="bayko").cognito_user_id
    # Cognito is unreachable while bayko deletes their account.
    settings.AWS_ENDPOINT_URL, settings.AWS_MAX_ATTEMPTS = "http://127.0.0.1:1", 1
    with django_capture_on_commit_callbacks(execute=True):
        delete_account(User.objects.get(pk=bayko.pk))
    settings.AWS_ENDPOINT_URL = moto_endpoint
    bayko.refresh_from_db()
    assert bayko.deleted_at is not None and bayko.cognito_user_id == sub
    assert usernames(pool_id) == {"bayko": True, "londo": True}

    dry, _ = run("cognito_sync", "--dry-run")

    assert f"Cognito users of deleted accounts to delete: 1\n  {bayko.uuid}\n" in dry
    assert dry.endswith(
        "Dry run, nothing written: would update 0, unchanged 1, would delete the Cognito "
        "users of 1 deleted account(s).\n"
    )
    assert usernames(pool_id) == {"bayko": True, "londo": True}

    out, _ = run("cognito_sync")

    assert f"Cognito users of deleted accounts deleted: 1\n  {bayko.uuid}\n" in out
    assert "@bayko" not in out
    assert out.endswith(
        "Cognito sync done: updated 0, unchanged 1, deleted the Cognito users of 1 deleted "
        "account(s).\n"
    )
    assert usernames(pool_id) == {"londo": True}
    assert User.objects.get(pk=bayko.pk).cognito_user_id is None
    again, _ = run("cognito_sync")
    assert "Cognito users of deleted accounts deleted: 0\n" in again


# --- errors: one sentence each, never a traceback ---


@pytest.mark.parametrize("name", ["cognito_list_users", "cognito_sync"])
def test_pool_id_not_set(name, moto_endpoint, db):
    with pytest.raises(CommandError) as raised:
        run(name)
    assert str(raised.value) == (
        "AWS_COGNITO_USER_POOL_ID is not set: set it to your user pool id "
        "(e.g. us-east-1_AbC123) in .env or the environment."
    )


@pytest.mark.parametrize("name", ["cognito_list_users", "cognito_sync"])
def test_pool_not_found(name, moto_endpoint, db):
    with pytest.raises(CommandError) as raised:
        run(name, "--user-pool-id", "us-east-1_Missing1")
    assert_one_sentence(raised.value)
    assert str(raised.value).startswith(
        f"User pool us-east-1_Missing1 does not exist in region us-east-1 at {moto_endpoint}"
    )


@pytest.mark.parametrize("name", ["cognito_list_users", "cognito_sync"])
def test_emulator_not_running(name, settings, db):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:1"
    with pytest.raises(CommandError) as raised:
        run(name, "--user-pool-id", "us-east-1_AbC123")
    assert_one_sentence(raised.value)
    assert "http://127.0.0.1:1" in str(raised.value) and "`make run`" in str(raised.value)


# --- cognito_local_pool ---


def test_local_pool_refuses_without_an_endpoint(settings):
    settings.AWS_ENDPOINT_URL = None
    with pytest.raises(CommandError) as raised:
        run("cognito_local_pool")
    assert_one_sentence(raised.value)
    assert "AWS_ENDPOINT_URL is not set" in str(raised.value)


def test_local_pool_refuses_prod(moto_endpoint):
    with pytest.raises(CommandError) as raised:
        run("cognito_local_pool", "--prod")
    assert_one_sentence(raised.value)
    assert "--prod" in str(raised.value)
    assert cognito.get_client().list_user_pools(MaxResults=60)["UserPools"] == []


def test_local_pool_is_idempotent_and_prints_only_the_id(moto_endpoint):
    out, err = run("cognito_local_pool")
    pool_id = out.strip()
    first = pool_users(pool_id)

    again, _ = run("cognito_local_pool")

    assert re.fullmatch(r"[\w-]+_[0-9a-zA-Z]+\n", out)
    assert again == out
    assert pool_users(pool_id) == first
    assert sorted(first) == sorted(seed.handle for seed in SEED_USERS)
    assert all(user.preferred_username == name for name, user in first.items())
    assert {u.email for u in first.values()} == {seed.email for seed in SEED_USERS}
    pools = cognito.get_client().list_user_pools(MaxResults=60)["UserPools"]
    assert [p["Name"] for p in pools] == ["cruddur-local"]
    assert "cruddur-local" in err


def test_local_pool_then_sync_links_the_seed_users(moto_endpoint, db):
    seed_users(password="irrelevant-here")
    pool_id, _ = run("cognito_local_pool")

    run("cognito_sync", "--user-pool-id", pool_id.strip())

    subs = {name: u.sub for name, u in pool_users(pool_id.strip()).items()}
    assert dict(User.objects.values_list("handle", "cognito_user_id")) == subs


def test_local_pool_stdout_can_be_captured_by_a_shell(moto_endpoint):
    # A real process, as `POOL=$(python manage.py cognito_local_pool)` runs it.
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_endpoint}
    result = subprocess.run(
        [sys.executable, "manage.py", "cognito_local_pool"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pool_id = result.stdout.strip()
    assert result.stdout == f"{pool_id}\n"
    assert sorted(pool_users(pool_id)) == sorted(seed.handle for seed in SEED_USERS)
