"""WSGI entry for the bench's gunicorn: the site, plus the openai profile's embedder when asked."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cache_policies.bench.server_settings")
application = get_wsgi_application()

if os.environ.get("RAGSITE_BENCH_WIRE_EMBEDDINGS") == "1":
    from cache_policies.bench.profiles import wire_embedder_install

    wire_embedder_install()
