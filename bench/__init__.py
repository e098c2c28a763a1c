"""`make bench` (bench/run.py). Nothing here is imported by the app: the benchmark's processes
select it with DJANGO_SETTINGS_MODULE=bench.settings (or bench.settings_memory)."""
