"""Requests refused before any view: what no view can use gets a clear 4xx, JSON on the API.

- A NUL character in the path or the query: PostgreSQL refuses it in text, and the psycopg DataError
  used to read as "the database is unavailable" (503).
- A body over DATA_UPLOAD_MAX_MEMORY_SIZE: 413, judged from Content-Length before reading it (a WSGI
  body without one reads as empty).
"""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render


def refusal(request, *, status: int, code: str, detail: str):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": detail, "code": code}, status=status)
    return render(request, "refused.html", {"message": detail}, status=status)


def _has_nul(request) -> bool:
    return "\x00" in request.path or any("\x00" in k + "".join(v) for k, v in request.GET.lists())


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0  # Django answers a malformed Content-Length itself


def _too_big(request):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return refusal(
        request, status=413, code="body_too_large",
        detail=f"The request body is over the {limit:,}-byte limit (DATA_UPLOAD_MAX_MEMORY_SIZE).",
    )


class RequestLimitsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _has_nul(request):
            return refusal(request, status=400, code="invalid_characters",
                           detail="The URL contains a NUL character, which no path or parameter may hold.")
        if _declared_length(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return _too_big(request)
        return self.get_response(request)
