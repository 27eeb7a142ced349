"""The cache API, for staff (session or token): GET /api/stats (the stats page's numbers as JSON) and
POST /api/cache/purge (the admin's purge actions over HTTP)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from cache_policies import services
from cache_policies.models import Layer
from cache_policies.stats_selectors import stats_overview


class StatsLayerSerializer(serializers.Serializer):
    counts = serializers.DictField(
        child=serializers.IntegerField(), help_text="Events per outcome: hit, semantic_hit, stale, miss, bypass, error, off."
    )
    lookups = serializers.IntegerField(help_text="hit + semantic_hit + stale + miss + error (bypass and off did not ask).")
    hits = serializers.IntegerField(help_text="hit + semantic_hit + stale.")
    hit_ratio = serializers.FloatField(allow_null=True, help_text="hits / lookups; null without lookups.")
    mean_latency_ms = serializers.DictField(
        child=serializers.FloatField(), help_text="Mean time in the layer, per outcome that occurred."
    )


class StatsWindowSerializer(serializers.Serializer):
    requests = serializers.IntegerField(help_text="Questions answered.")
    errors = serializers.IntegerField(help_text="Questions that failed.")
    saved_ms = serializers.IntegerField(help_text="Time saved by cached answers, in milliseconds.")
    saved_tokens = serializers.IntegerField(help_text="LLM tokens not spent thanks to cached answers.")
    saved_usd = serializers.FloatField(help_text="Money saved, at the prices in the ModelPrice table.")
    layers = serializers.DictField(child=StatsLayerSerializer(), help_text="Per layer.")


class StatsPointSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="Start of the minute or hour.")
    requests = serializers.IntegerField(source="window.requests")
    lookups = serializers.DictField(child=serializers.IntegerField(), source="window.lookups")
    hit_ratios = serializers.DictField(child=serializers.FloatField(allow_null=True), source="window.hit_ratios")


class RedisHealthSerializer(serializers.Serializer):
    up = serializers.BooleanField()
    embedded = serializers.BooleanField(help_text="The embedded Valkey under ./var, or an external REDIS_URL.")
    location = serializers.CharField(help_text="The Redis URL without credentials.")
    server = serializers.CharField(help_text="valkey or redis; empty when down.")
    version = serializers.CharField()
    used_memory = serializers.IntegerField(help_text="Bytes.")
    maxmemory = serializers.IntegerField(help_text="Bytes; 0 means no limit.")
    memory_ratio = serializers.FloatField(allow_null=True, help_text="used_memory / maxmemory.")
    maxmemory_policy = serializers.CharField()
    evicted_keys = serializers.IntegerField()
    expired_keys = serializers.IntegerField()
    keyspace_hits = serializers.IntegerField()
    keyspace_misses = serializers.IntegerField()
    keyspace_hit_ratio = serializers.FloatField(allow_null=True)
    persistence = serializers.BooleanField(help_text="RDB snapshots or an append-only file (a restart reloads old entries).")


class RedisAdviceSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The system check's id (manage.py check --deploy), e.g. ragsite.W111.")
    level = serializers.ChoiceField(choices=["info", "warning"])
    message = serializers.CharField(help_text="What the Redis configuration weakens.")
    hint = serializers.CharField(help_text="Why it matters and what to change.")


class SimilarityBucketSerializer(serializers.Serializer):
    bucket = serializers.FloatField(help_text="Lower bound of the bucket (steps of 0.02).")
    count = serializers.IntegerField(help_text="Semantic hits served at that similarity.")


class AskedQuestionSerializer(serializers.Serializer):
    question = serializers.CharField(help_text="Normalized question text.")
    count = serializers.IntegerField()


class VerifiedRateSerializer(serializers.Serializer):
    verified = serializers.IntegerField(help_text="Served semantic hits answered again and compared.")
    wrong = serializers.IntegerField(help_text="Of those, the ones whose fresh answer differed.")
    interval = serializers.ListField(
        child=serializers.FloatField(), min_length=2, max_length=2,
        help_text="Wilson 95 % interval of the wrong share, [low, high] ([0, 1] with none verified).",
    )
    budget = serializers.FloatField(help_text="The semantic policy's max_wrong_rate.")
    verdict = serializers.CharField(help_text="Whether the interval shows the wrong share within the budget.")
    floor = serializers.FloatField(
        allow_null=True, help_text="While the verified hits show the budget broken, semantic hits are served only "
        "above this similarity; null when they do not show it.")


NULL_WHEN_DOWN = "Null when the database is down (the counts are kept there, not in Redis)."


class StatsApi(APIView):
    # Token first, so an anonymous request gets 401 with a WWW-Authenticate header rather than 403.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [permissions.IsAdminUser]

    class InputSerializer(serializers.Serializer):
        minutes = serializers.IntegerField(min_value=1, max_value=1440, default=60, help_text="Minutes of per-minute data.")
        hours = serializers.IntegerField(min_value=1, max_value=720, default=24, help_text="Hours of per-hour data.")

        class Meta:
            ref_name = "StatsQuery"

    class OutputSerializer(serializers.Serializer):
        minutes = serializers.IntegerField()
        hours = serializers.IntegerField()
        last_minutes = StatsWindowSerializer(allow_null=True, help_text=f"Totals of the last `minutes`. {NULL_WHEN_DOWN}")
        last_hours = StatsWindowSerializer(allow_null=True, help_text=f"Totals of the last `hours`. {NULL_WHEN_DOWN}")
        all_time = StatsWindowSerializer(allow_null=True, help_text=f"Since the counters began. {NULL_WHEN_DOWN}")
        per_minute = StatsPointSerializer(many=True, allow_null=True, help_text="Oldest first, the current minute last.")
        per_hour = StatsPointSerializer(many=True, allow_null=True, help_text="Oldest first, the current hour last.")
        similarity = SimilarityBucketSerializer(many=True, allow_null=True, help_text="Semantic hits by similarity.")
        questions = AskedQuestionSerializer(
            many=True, allow_null=True, help_text="The most repeated questions (a recent view kept in Redis: null when Redis is down)."
        )
        redis = RedisHealthSerializer()
        redis_advice = RedisAdviceSerializer(many=True, help_text="Redis configuration that weakens a guarantee.")
        verified = VerifiedRateSerializer(allow_null=True, help_text=f"Verified semantic hits. {NULL_WHEN_DOWN}")

        class Meta:
            ref_name = "Stats"

    @extend_schema(
        parameters=[InputSerializer],
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="Bad input; the message names the parameter."),
            401: OpenApiResponse(description="Not authenticated: send a token or a staff session."),
            403: OpenApiResponse(description="Authenticated, but not staff."),
        },
        summary="Cache hit ratios, savings and Redis health",
        tags=["stats"],
    )
    def get(self, request):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(self.OutputSerializer(stats_overview(**params.validated_data)).data)


class CachePurgeApi(APIView):
    # Token first, so an anonymous call gets 401 with WWW-Authenticate rather than a bare 403.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAdminUser]

    @extend_schema_serializer(component_name="CachePurge")
    class InputSerializer(serializers.Serializer):
        layer = serializers.ChoiceField(choices=[*Layer.values, "all"], required=False, help_text="A layer, or all.")
        question = serializers.CharField(max_length=2000, required=False, help_text="Purge one question instead.")

        def validate(self, attrs):
            if ("layer" in attrs) == ("question" in attrs):
                raise serializers.ValidationError("Give exactly one of 'layer' or 'question'.")
            return attrs

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer("PurgeResult", fields={"purged": serializers.DictField()}),
            400: OpenApiResponse(description="Neither or both of layer and question."),
            403: OpenApiResponse(description="Staff only."),
        },
        summary="Purge a cache layer, every layer, or one question",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if question := data.validated_data.get("question"):
            return Response({"purged": {"question_entries": services.question_purge(question=question)}})
        layer = data.validated_data["layer"]
        if layer == "all":
            return Response({"purged": {"namespace_versions": services.all_purge()}})
        return Response({"purged": {"namespace_versions": {layer: services.layer_purge(layer=layer)}}})
