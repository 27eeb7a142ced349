from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("qa.urls")),
    path("", include("cache_policies.urls")),
    path("admin/", admin.site.urls),
]
