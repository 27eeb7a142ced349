"""Settings for the gunicorn the bench starts: the site's, with the bench URLconf."""

from ragsite.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
MODEL_CHANGED_FIRES = False  # the bench switches models on purpose, under its own key prefix
