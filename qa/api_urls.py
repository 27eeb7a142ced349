"""The qa API; the project includes these under "api/"."""

from django.urls import path

from qa import apis

urlpatterns = [
    path("documents", apis.DocumentsApi.as_view(), name="documents"),
    # <str:slug>, not <slug:slug>: a malformed slug must reach the view and get a JSON 404.
    path("documents/<str:slug>", apis.DocumentApi.as_view(), name="document"),
]
