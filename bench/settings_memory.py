"""The benchmark's settings with the in-memory store: the baseline server (bench/wsgi_memory.py)."""

from bench.settings import *  # noqa: F403

MESSAGE_STORE = "messaging.memory.get_memory_store"
