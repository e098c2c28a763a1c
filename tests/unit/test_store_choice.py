"""The store is chosen like Django's own backends: `MESSAGE_STORE` is the dotted path of a
factory, so `messaging/store.py` (the interface) names no backend."""

import ast
from pathlib import Path

import pytest

import messaging.store
from messaging.memory import InMemoryStore
from messaging.store import get_store

STORE_MADE = InMemoryStore()


def make_store(*, prod=False):
    return STORE_MADE


def test_the_setting_names_the_factory(settings):
    settings.MESSAGE_STORE = "tests.unit.test_store_choice.make_store"
    assert get_store() is STORE_MADE


def test_a_path_that_names_nothing_is_an_import_error(settings):
    settings.MESSAGE_STORE = "messaging.nowhere.get_store"
    with pytest.raises(ImportError):
        get_store()


def test_the_interface_imports_no_backend():
    tree = ast.parse(Path(messaging.store.__file__).read_text())
    imported = {
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not {name for name in imported if "dynamo" in name or "memory" in name or "boto" in name}
