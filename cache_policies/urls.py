from django.urls import path

from cache_policies import views
from cache_policies.apis import StatsApi

urlpatterns = [
    path("stats/", views.stats_page, name="cache-stats"),
    path("api/stats", StatsApi.as_view(), name="api-stats"),
    path("metrics", views.metrics, name="metrics"),
]
