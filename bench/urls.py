"""The site's URLs plus the bare DRF baseline, for the gunicorn the bench starts (and only it).

The baseline comes first so resolving it costs one regex; /api/ask pays one extra failed match.
"""

from django.urls import path

from bench.bare_api import BareApi
from ragsite.urls import urlpatterns as site_urlpatterns

urlpatterns = [path("api/bench/bare", BareApi.as_view(), name="bench-bare"), *site_urlpatterns]
