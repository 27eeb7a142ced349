"""Outages on HTML pages get a clear 503 page, not a bare 'Server Error (500)'.

(The API gets the same through ragsite.errors.api_exception_handler.)
"""

import logging

from django.db import DatabaseError, DataError, InterfaceError
from django.shortcuts import render

from ragsite.errors import INVALID_VALUE
from ragsite.limits import refusal

logger = logging.getLogger(__name__)


class OutagePageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DataError):
            return refusal(request, status=400, code="invalid_value", detail=INVALID_VALUE)
        if isinstance(exception, (DatabaseError, InterfaceError)):
            logger.error("database unavailable: %s", exception)
            return render(
                request, "503.html",
                {"message": "The database is unavailable right now. Please try again in a moment."},
                status=503,
            )
        return None
