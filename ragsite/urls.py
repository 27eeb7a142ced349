from django.contrib import admin
from django.urls import include, path

from ragsite import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("qa.urls")),
    path("", include("cache_policies.urls")),
    path("admin/", admin.site.urls),
]
