"""Settings for the gunicorn the bench starts: the site's, with the bench URLconf."""

from ragsite.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
