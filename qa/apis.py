"""The qa API: POST /api/ask (the public question-answering contract), POST /api/ask/stream (the same,
as Server-Sent Events), and the documents API, read by anyone, written by staff (session or token).

One APIView per URL, with one method and its own nested serializers per operation: a URL routes
to a single view, so GET and POST /api/documents share one.
"""

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from cache_policies.layers import MODES
from cache_policies.models import Layer, Outcome
from qa.ask_input import ask_input_simple
from qa.forms import QUESTION_MAX_CHARS
from qa.models import Document, DocumentStatus
from qa.explain import question_explain
from qa.document_limits import document_content_validate
from qa.exposure import answer_public_dict, cache_status_visible
from qa.pipeline import Answer, question_answer
from qa.selectors import document_list
from qa.services import IngestStatus, document_delete, document_submit
from qa.streaming import question_stream
from qa.throttles import AskAnonThrottle, AskUserThrottle, DocumentWriteThrottle


class DocumentPagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 500


class DocumentSummarySerializer(serializers.Serializer):
    slug = serializers.SlugField()
    title = serializers.CharField()
    version = serializers.IntegerField()
    chunk_count = serializers.IntegerField()
    updated_at = serializers.DateTimeField()
    status = serializers.ChoiceField(
        choices=DocumentStatus.choices,
        help_text="pending: new text is being chunked and embedded (the previous text still answers questions); "
                  "ready: done; failed: the last ingest failed (see status_error) and the previous text stays.",
    )
    status_error = serializers.CharField(help_text="Why the last ingest failed; empty otherwise.")
    queued_at = serializers.DateTimeField(allow_null=True, help_text="When the last ingest was queued.")
    ingested_at = serializers.DateTimeField(allow_null=True, help_text="When the last ingest ended.")

    class Meta:
        ref_name = "DocumentListItem"


class DocumentOutputSerializer(DocumentSummarySerializer):
    source = serializers.CharField()
    content = serializers.CharField()

    class Meta:
        ref_name = "DocumentDetail"


NOT_FOUND = {404: OpenApiResponse(description="No document has this slug.")}
NOT_STAFF = {
    401: OpenApiResponse(description="Not authenticated: send a token or a staff session."),
    403: OpenApiResponse(description="Authenticated, but not staff."),
}
BAD_INPUT = {400: OpenApiResponse(description="Bad input (a limit, the slug, an empty field); the message names it.")}


class DocumentQueuedSerializer(DocumentOutputSerializer):
    poll = serializers.URLField(help_text="GET it until status is ready or failed; also sent as the Location header.")

    class Meta:
        ref_name = "DocumentQueued"


QUEUED = OpenApiResponse(
    DocumentQueuedSerializer,
    description="Accepted: the document is stored pending and a background job chunks and embeds it. "
                "The response carries the document as it now is (the previous text while pending) and a poll link.",
)


class _DocumentApi(APIView):
    # Token first, so an anonymous write gets 401 with a WWW-Authenticate header rather than 403.
    authentication_classes = [TokenAuthentication, SessionAuthentication]

    def get_permissions(self):
        # Per method rather than a combined class, so the schema shows reads as open to anyone.
        if self.request.method in permissions.SAFE_METHODS:
            return [permissions.AllowAny()]
        return [permissions.IsAdminUser()]

    def get_throttles(self):
        return [] if self.request.method in permissions.SAFE_METHODS else [DocumentWriteThrottle()]

    def _detail(self, slug: str) -> Response:
        return Response(DocumentOutputSerializer(get_object_or_404(document_list(), slug=slug)).data)

    def _submitted(self, slug: str, ingest: IngestStatus) -> Response:
        """202 and a poll link when a job was queued; 200 when the write needed no embedding (done now)."""
        if ingest != "queued":
            return self._detail(slug)
        poll = self.request.build_absolute_uri(reverse("document", kwargs={"slug": slug}))
        data = {**DocumentOutputSerializer(get_object_or_404(document_list(), slug=slug)).data, "poll": poll}
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": poll})


class DocumentsApi(_DocumentApi):
    pagination_class = DocumentPagination  # the schema generator reads it too

    class CreateInputSerializer(serializers.Serializer):
        slug = serializers.SlugField(max_length=200)
        title = serializers.CharField(max_length=300)
        content = serializers.CharField(validators=[document_content_validate])
        source = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)

        class Meta:
            ref_name = "DocumentCreateInput"

        def validate_slug(self, slug: str) -> str:
            if Document.objects.filter(slug=slug).exists():
                raise serializers.ValidationError("A document with this slug already exists; PUT to change it.")
            return slug

    @extend_schema(operation_id="documents_list", responses=DocumentSummarySerializer(many=True))
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(document_list().defer("content"), request, view=self)
        return paginator.get_paginated_response(DocumentSummarySerializer(page, many=True).data)

    @extend_schema(
        operation_id="documents_create",
        request=CreateInputSerializer,
        responses={202: QUEUED, **BAD_INPUT, **NOT_STAFF},
    )
    def post(self, request):
        serializer = self.CreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        document, ingest = document_submit(**serializer.validated_data)
        return self._submitted(document.slug, ingest)


class DocumentApi(_DocumentApi):
    class UpdateInputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=300)
        content = serializers.CharField(validators=[document_content_validate])
        source = serializers.CharField(max_length=500, required=False, allow_blank=True)

        class Meta:
            ref_name = "DocumentUpdateInput"

    @extend_schema(operation_id="documents_retrieve", responses={200: DocumentOutputSerializer, **NOT_FOUND})
    def get(self, request, slug: str):
        return self._detail(slug)

    @extend_schema(
        operation_id="documents_update",
        request=UpdateInputSerializer,
        responses={
            200: OpenApiResponse(DocumentOutputSerializer, description="The content is unchanged: saved at once."),
            202: QUEUED, **BAD_INPUT, **NOT_STAFF, **NOT_FOUND,
        },
    )
    def put(self, request, slug: str):
        document = get_object_or_404(Document, slug=slug)
        serializer = self.UpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = {"source": document.source, **serializer.validated_data}
        _, ingest = document_submit(slug=slug, **data)
        return self._submitted(slug, ingest)

    @extend_schema(
        operation_id="documents_destroy",
        request=None,
        responses={204: OpenApiResponse(description="Deleted, with its chunks."), **NOT_STAFF, **NOT_FOUND},
    )
    def delete(self, request, slug: str):
        document_delete(document=get_object_or_404(Document, slug=slug))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- POST /api/ask ---------------------------------------------------------------

# What the answer reports per layer (a bypassed layer reads as a miss or off; see layers.Report).
LAYER_STATUS = [Outcome.HIT.value, Outcome.MISS.value, Outcome.OFF.value]
RESPONSE_STATUS = [Outcome.HIT.value, Outcome.SEMANTIC_HIT.value, Outcome.STALE.value, Outcome.MISS.value, Outcome.OFF.value]


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
                Layer.EMBEDDING.value: serializers.ChoiceField(choices=LAYER_STATUS),
                Layer.RETRIEVAL.value: serializers.ChoiceField(choices=LAYER_STATUS),
                Layer.RESPONSE.value: serializers.ChoiceField(choices=RESPONSE_STATUS),
                "similarity": serializers.FloatField(allow_null=True),
                "key": serializers.CharField(help_text="Short id of the response key."),
            },
            help_text="What each layer did. 'off': not used for this request (disabled by policy, bypassed by the "
            "request's cache mode, or not needed because the response layer answered).",
        )

    def check_throttles(self, request):
        """Deferred to post(): the rate limit goes to Redis in one round trip with the answer's lookup."""

    def question_args(self, request) -> dict:
        """The validated question for the pipeline, with the rate limit for its first round trip."""
        validated = ask_input_simple(data=request.data) or self.input_validated(request)
        return {
            "question": validated["question"],
            "user_id": request.user.id if request.user.is_authenticated else None,
            "cache_mode": validated["cache"],
            "first_trip": [c for t in self.get_throttles() if (c := t.first_trip_command(request)) is not None],
        }

    def input_validated(self, request) -> dict:
        """The serializer's verdict, for every body the simple reading (qa/ask_input.py) leaves to it."""
        data = self.InputSerializer(data=request.data)
        if not data.is_valid():
            super().check_throttles(request)  # a refused client hears 429 before what is wrong with its input
            raise serializers.ValidationError(data.errors)
        return data.validated_data

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
        answer = question_answer(**self.question_args(request))
        # The OutputSerializer documents the contract; the Answer already has exactly that shape, and
        # skipping serializer machinery is most of what separates a cache hit from a bare endpoint.
        if not cache_status_visible(user=request.user):
            return Response(answer_public_dict(answer_dict=answer.as_dict()))
        return Response(answer.as_dict(), headers=answer_headers(answer))


STREAM_EVENTS = """Server-Sent Events, in this order:

- `meta` once: `{"sources": [Source], "cache": CacheReport, "stream": "replay" | "generated" | "shared"}`
  (replay: a cached answer; generated: this request's own generation; shared: another request's
  generation of the same question, read as it is written);
- `delta` one or more: `{"text": "..."}`; the answer is every delta's text joined (a cached answer
  is replayed in several);
- `done` once: `{"timings_ms": Timings}`;
- or, once the stream has begun, `error` as the last event: `{"detail", "code"}` with the codes of the
  JSON errors (`provider_error`, `answer_pending`, `database_unavailable`) or `answer_interrupted`
  (the answer stopped part-way; ask again).

Bad input, a rate limit, no free slot or a database outage are answered before the stream, as JSON."""

# One event of the stream, as SSE clients (and schemathesis) read it: its name, and its data as JSON text.
STREAM_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["meta", "delta", "done", "error"]},
        "data": {"type": "string", "description": "The event's JSON object (see the response's description)."},
    },
}


class AskStreamApi(AskApi):
    """The same question as POST /api/ask, answered as it is generated."""

    renderer_classes = [JSONRenderer]  # for the errors; the answer itself is a StreamingHttpResponse

    def perform_content_negotiation(self, request, force=False):
        # A client that accepts only text/event-stream still gets its errors, as JSON, not a 406.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="ask_stream",
        request=AskApi.InputSerializer,
        responses={
            (200, "text/event-stream"): OpenApiResponse(response=STREAM_EVENT, description=STREAM_EVENTS),
            400: OpenApiResponse(description="Bad input; the message names the field."),
            429: OpenApiResponse(description="Too many requests."),
            503: OpenApiResponse(description="The database is unavailable, or this server streams as many answers "
                                 "as it may (answer_pending, with Retry-After)."),
        },
        summary="Answer a question from the knowledge base, streamed as Server-Sent Events",
    )
    def post(self, request):
        public = not cache_status_visible(user=request.user)
        events = question_stream(**self.question_args(request), public=public)
        response = StreamingHttpResponse(events, content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # a proxy in front (nginx) must pass each event on at once
        return response


class ExplainApi(APIView):
    # Token first, so an anonymous call gets 401 with WWW-Authenticate rather than a bare 403.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [permissions.IsAdminUser]

    class InputSerializer(serializers.Serializer):
        question = serializers.CharField(max_length=QUESTION_MAX_CHARS, help_text="The question to explain.")

    @extend_schema(
        parameters=[InputSerializer],
        responses={
            200: inline_serializer("Explanation", fields={
                "question": serializers.CharField(),
                "layers": serializers.ListField(child=serializers.DictField(), help_text="embedding, retrieval, response: key, enabled, present, ttl_left, documents."),
                "candidates": serializers.ListField(child=serializers.DictField(), help_text="Semantic candidates: question, similarity, checks, answer_present, would_serve, answer."),
                "decision": serializers.ChoiceField(choices=["response", "semantic", "generate"]),
                "policy": serializers.CharField(help_text="Which policy decided, in words."),
                "answer": serializers.CharField(),
                "answer_source": serializers.CharField(),
            }),
            400: OpenApiResponse(description="No question, or one too long."),
            403: OpenApiResponse(description="Staff only."),
        },
        summary="Explain how a question would be answered (reads only; not counted in the stats)",
    )
    def get(self, request):
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        explanation = question_explain(question=data.validated_data["question"], user_id=request.user.id)
        return Response(explanation.as_dict())
