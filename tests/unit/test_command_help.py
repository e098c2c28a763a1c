"""Every operational command explains itself (as Zulip checks every command's --help)."""

import pytest
from django.core.management import call_command, get_commands

OUR_COMMANDS = sorted(name for name, app in get_commands().items() if app in {"messaging", "users"})


def test_the_contract_commands_exist():
    contract = {
        "ddb_schema_load",
        "ddb_seed",
        "ddb_drop",
        "ddb_list_tables",
        "ddb_scan",
        "ddb_get_conversation",
        "ddb_list_conversations",
        "ddb_repair_unread",
        "ddb_migrate",
        "ddb_purge_user",
        "seed_users",
        "cognito_list_users",
        "cognito_sync",
    }
    assert contract <= set(OUR_COMMANDS)


def test_each_command_lives_in_the_app_it_serves():
    apps = get_commands()
    assert {apps[name] for name in OUR_COMMANDS if name.startswith("ddb_")} == {"messaging"}
    assert {apps[name] for name in ("seed_users", "cognito_list_users", "cognito_sync")} == {
        "users"
    }


@pytest.mark.parametrize("name", OUR_COMMANDS)
def test_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command(name, "--help")
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"{name} [-h]" in out
    # A real description, not argparse's bare usage line.
    assert len(out.split("\n\n")[1].strip()) > 20
    if name.startswith("ddb_"):
        assert "--prod" in out
