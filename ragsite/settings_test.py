"""Settings for the test suite: a separate database, Redis db and key prefix."""

import os

os.environ["RAGSITE_TESTING"] = "1"

from ragsite.settings import *  # noqa: E402,F401,F403
