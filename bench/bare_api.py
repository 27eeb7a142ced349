"""The baseline for the throughput comparison: DRF with nothing behind it.

Served only by the bench's own URLconf (urls.py here), never by the site's.
"""

from rest_framework.response import Response
from rest_framework.views import APIView


class BareApi(APIView):
    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True})
