import hmac

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from cache_policies.charts import histogram_chart, ratio_chart
from cache_policies.metrics import metrics_text
from cache_policies.models import CachePolicy, Layer
from cache_policies.stats_selectors import stats_overview


@staff_member_required
def stats_page(request: HttpRequest) -> HttpResponse:
    overview = stats_overview(minutes=60, hours=24)
    context = {
        "overview": overview,
        "policies": CachePolicy.objects.all(),
        "layers": Layer.values,
        "saved_rows": [
            ("last-minutes", f"last {overview.minutes} minutes", overview.last_minutes),
            ("last-hours", f"last {overview.hours} hours", overview.last_hours),
            ("all-time", "all time", overview.all_time),
        ],
        "minute_chart": ratio_chart(series=overview.per_minute, time_format="%H:%M") if overview.per_minute else None,
        "hour_chart": ratio_chart(series=overview.per_hour, time_format="%d %H:00") if overview.per_hour else None,
        "similarity_chart": histogram_chart(buckets=overview.similarity) if overview.similarity else None,
    }
    return render(request, "cache_policies/stats.html", context)


def _bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus scrape endpoint: open, unless METRICS_TOKEN is set, then a bearer token is required."""
    expected = getattr(settings, "METRICS_TOKEN", "")
    if expected and not hmac.compare_digest(_bearer_token(request).encode(), expected.encode()):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
