"""The speed layer's stats page, its API and the Prometheus endpoint."""

from django.urls import path

from cache_policies import apis, views

urlpatterns = [
    path("stats/", views.stats_page, name="cache-stats"),
    path("api/stats", apis.StatsApi.as_view(), name="api-stats"),
    path("api/cache/purge", apis.CachePurgeApi.as_view(), name="api-cache-purge"),
    path("metrics", views.metrics, name="metrics"),
]
