"""The app over the in-memory gateway, for gunicorn: `gunicorn bench.wsgi_memory:application`.

The same Django application as cruddur.wsgi; only `messaging.gateway.get_store` returns the
test suite's in-memory fake (tests/fakes.py), loaded with the benchmark's data for BENCH_SIZE.
With `--preload` it is loaded once and each worker starts from a copy; each worker's sends
then stay in that worker. The app does not know: it calls `gateway.get_store()` as always.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
application = get_wsgi_application()


def _install_memory_gateway() -> None:
    from django.conf import settings

    from bench.seed import SIZES, build, load_into
    from messaging.store import get_store

    settings.MESSAGE_STORE = "memory"
    fake = get_store()
    dataset = build(SIZES[os.environ["BENCH_SIZE"]], clients=int(os.environ["BENCH_CLIENTS"]))
    load_into(fake, dataset)


_install_memory_gateway()
