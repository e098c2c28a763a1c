"""The app over the in-memory gateway, for gunicorn: `gunicorn bench.wsgi_memory:application`.

The same Django application as cruddur.wsgi; only `messaging.gateway.get_gateway` returns the
test suite's in-memory fake (tests/fakes.py), loaded with the benchmark's data for BENCH_SIZE.
With `--preload` it is loaded once and each worker starts from a copy; each worker's sends
then stay in that worker. The app does not know: it calls `gateway.get_gateway()` as always.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
application = get_wsgi_application()


def _install_memory_gateway() -> None:
    from bench.seed import SIZES, build, load_into
    from messaging import gateway
    from tests.fakes import FakeGateway

    fake = FakeGateway()
    dataset = build(SIZES[os.environ["BENCH_SIZE"]], clients=int(os.environ["BENCH_CLIENTS"]))
    load_into(fake, dataset)
    gateway.get_gateway = lambda **_kwargs: fake


_install_memory_gateway()
