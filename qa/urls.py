from django.urls import path

from qa import views
from qa.ask_api import AskApi

urlpatterns = [
    path("", views.home, name="home"),
    path("documents/<slug:slug>/", views.document_detail, name="document-detail"),
    path("api/ask", AskApi.as_view(), name="api-ask"),
]
