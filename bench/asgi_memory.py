"""The app over the in-memory store under an ASGI server: `uvicorn bench.asgi_memory:application`.

bench/wsgi_memory.py, served by ASGI instead (bench/push.py compares the two): importing it
loads the benchmark's data into this process's store.
"""

from django.core.asgi import get_asgi_application

from bench import wsgi_memory  # noqa: F401  (settings, and the data in this process's store)

application = get_asgi_application()
