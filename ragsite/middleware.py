"""Outages on HTML pages get a clear 503 page, not a bare 'Server Error (500)'.

(The API gets the same through ragsite.errors.api_exception_handler.)
"""

import logging

from django.db import DatabaseError, InterfaceError
from django.shortcuts import render

logger = logging.getLogger(__name__)


class OutagePageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, (DatabaseError, InterfaceError)):
            logger.error("database unavailable: %s", exception)
            return render(
                request, "503.html",
                {"message": "The database is unavailable right now. Please try again in a moment."},
                status=503,
            )
        return None
