"""WSGI entry for the bench's gunicorn: the site, plus the openai profile's embedder when asked."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.server_settings")
application = get_wsgi_application()

if os.environ.get("RAGSITE_BENCH_WIRE_EMBEDDINGS") == "1":
    from bench.profiles import wire_embedder
    from qa import providers

    # Entered for the server's lifetime: every request of this worker embeds through the wire.
    providers.override(embedder=wire_embedder()).__enter__()
