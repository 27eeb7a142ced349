"""The product's pages and API, with the API's schema and docs."""

from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from qa import apis, views

urlpatterns = [
    path("api/ask", apis.AskApi.as_view(), name="api-ask"),  # first: the hot path resolves in one match
    path("api/ask/stream", apis.AskStreamApi.as_view(), name="api-ask-stream"),
    path("", views.home, name="home"),
    path("admin/explain/", admin.site.admin_view(views.explain_page), name="explain"),
    path("admin/warm/", admin.site.admin_view(views.warm_page), name="warm"),
    path("documents/<slug:slug>/", views.document_detail, name="document-detail"),
    path("api/documents", apis.DocumentsApi.as_view(), name="documents"),
    # <str:slug>, not <slug:slug>: a malformed slug must reach the view and get a JSON 404.
    path("api/documents/<str:slug>", apis.DocumentApi.as_view(), name="document"),
    path("api/explain", apis.ExplainApi.as_view(), name="api-explain"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
]
