"""One place that turns failures into clear JSON for the API."""

import logging

from django.db import DatabaseError, DataError, InterfaceError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from cache_policies.singleflight import AnswerPending

logger = logging.getLogger(__name__)


INVALID_VALUE = "A value in the request cannot be stored or looked up (it holds an invalid character)."


class ProviderError(Exception):
    """An embedding or LLM provider failed after its retries (502)."""

    status_code = status.HTTP_502_BAD_GATEWAY

    def __init__(self, message: str, *, provider: str):
        super().__init__(message)
        self.provider = provider


class ProviderTimeout(ProviderError):
    """A provider did not answer within its timeout (504)."""

    status_code = status.HTTP_504_GATEWAY_TIMEOUT


def api_exception_handler(exc, context):
    response = exception_handler(exc, context)
    if response is not None:
        return response
    if isinstance(exc, ProviderError):
        return Response(
            {"detail": f"The {exc.provider} provider failed: {exc}", "code": "provider_error"},
            status=exc.status_code,
        )
    if isinstance(exc, DataError):
        # The database is up; the value is what it refused (a NUL the request checks missed, say).
        return Response({"detail": INVALID_VALUE, "code": "invalid_value"}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, AnswerPending):
        return Response(
            {"detail": str(exc), "code": "answer_pending"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, (DatabaseError, InterfaceError)):
        logger.exception("database unavailable")
        return Response(
            {"detail": "The database is unavailable; try again shortly.", "code": "database_unavailable"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return None
