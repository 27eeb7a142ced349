"""POST /api/ask: the public question-answering contract."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from cache_policies.layers import MODES
from qa.forms import QUESTION_MAX_CHARS
from qa.pipeline import Answer, question_answer
from qa.throttles import AskAnonThrottle, AskUserThrottle


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of quietly turning them into text."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def server_timing(timings_ms: dict[str, float]) -> str:
    return ", ".join(f"{stage};dur={ms:.2f}" for stage, ms in timings_ms.items())


def answer_headers(answer: Answer) -> dict[str, str]:
    return {"X-Cache": answer.x_cache, "Server-Timing": server_timing(answer.timings_ms)}


class AskApi(APIView):
    throttle_classes = [AskAnonThrottle, AskUserThrottle]

    @extend_schema_serializer(component_name="Ask")
    class InputSerializer(serializers.Serializer):
        question = StrictCharField(max_length=QUESTION_MAX_CHARS, help_text="The question, 1 to 2,000 characters.")
        cache = serializers.ChoiceField(
            choices=MODES, default="default",
            help_text="default: read and write the cache; no-cache: recompute and refresh; no-store: neither.",
        )

    @extend_schema_serializer(component_name="Answer")
    class OutputSerializer(serializers.Serializer):
        answer = serializers.CharField()
        sources = inline_serializer(
            "Source",
            fields={
                "document": serializers.CharField(help_text="Document slug."),
                "title": serializers.CharField(),
                "chunk_id": serializers.IntegerField(),
                "score": serializers.FloatField(help_text="Cosine similarity to the question."),
            },
            many=True,
        )
        timings_ms = inline_serializer(
            "Timings",
            fields={name: serializers.FloatField() for name in ("embed", "retrieve", "generate", "total")},
        )
        cache = inline_serializer(
            "CacheReport",
            fields={
                "embedding": serializers.ChoiceField(choices=["hit", "miss", "off"]),
                "retrieval": serializers.ChoiceField(choices=["hit", "miss", "off"]),
                "response": serializers.ChoiceField(choices=["hit", "semantic_hit", "miss", "off"]),
                "similarity": serializers.FloatField(allow_null=True),
                "key": serializers.CharField(help_text="Short id of the response key."),
            },
            help_text="What each layer did. 'off': not used for this request (disabled by policy, bypassed by the "
            "request's cache mode, or not needed because the response layer answered).",
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="Bad input; the message names the field."),
            429: OpenApiResponse(description="Too many requests."),
            502: OpenApiResponse(description="The embedding or LLM provider failed."),
            503: OpenApiResponse(description="The database is unavailable."),
            504: OpenApiResponse(description="The provider timed out."),
        },
        summary="Answer a question from the knowledge base",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answer = question_answer(
            question=data.validated_data["question"],
            user_id=request.user.id if request.user.is_authenticated else None,
            cache_mode=data.validated_data["cache"],
        )
        # The OutputSerializer documents the contract; the Answer already has exactly that shape, and
        # skipping serializer machinery is most of what separates a cache hit from a bare endpoint.
        return Response(answer.as_dict(), headers=answer_headers(answer))
