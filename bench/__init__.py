"""`make bench`: what a page costs and how it holds up as conversations pile up.

`python -m bench.run` starts its own stack (moto's server, a Postgres database, gunicorn),
seeds synthetic data at two sizes, drives the pages with concurrent signed-in clients and
writes docs/BENCHMARKS.md, docs/bench.png and docs/bench-results.json. Nothing here is imported
by the app: the bench processes select it with DJANGO_SETTINGS_MODULE=bench.settings.
"""
