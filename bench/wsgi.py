"""WSGI entry for the bench's gunicorn: the site, plus the openai profile's embedder when asked."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.server_settings")
application = get_wsgi_application()

if os.environ.get("RAGSITE_BENCH_WIRE_EMBEDDINGS") == "1":
    from bench.profiles import wire_embedder
    from qa import providers

    # Entered for the server's lifetime: every request of this worker embeds through the wire. The context manager
    # is kept: one dropped after __enter__ is collected at once, and its exit undoes the override (it did, so the
    # openai profile's HTTP rows measured MiniLM alone, ~24 ms an embedding instead of the wire's 300).
    _wire_embeddings = providers.override(embedder=wire_embedder())
    _wire_embeddings.__enter__()
