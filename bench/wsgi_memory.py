"""The app over the in-memory store, for gunicorn: `gunicorn bench.wsgi_memory:application`.

The same application as cruddur.wsgi with the in-memory store (bench/settings_memory.py),
loaded with the benchmark's data for BENCH_SIZE before the workers fork: with `--preload` each
worker starts from its own copy, and its sends stay in it.
"""

import os

from django.core.wsgi import get_wsgi_application

# Forced, not defaulted: the benchmark's environment names bench.settings for every process,
# and loading the dataset under that would write it to DynamoDB.
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings_memory"
application = get_wsgi_application()


def _load_dataset() -> None:
    from bench.seed import SIZES, build, load_into
    from messaging.store import get_store

    size, clients = SIZES[os.environ["BENCH_SIZE"]], int(os.environ["BENCH_CLIENTS"])
    load_into(get_store(), build(size, clients=clients))


_load_dataset()
