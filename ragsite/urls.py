from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cache_policies.purge_api import CachePurgeApi

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/cache/purge", CachePurgeApi.as_view(), name="api-cache-purge"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/", include("qa.api_urls")),
    path("", include("cache_policies.urls")),
    path("", include("qa.urls")),
]
