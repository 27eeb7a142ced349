"""The documents API: read by anyone, written by staff (session or token).

One APIView per URL, with one method and its own nested serializers per operation: a URL routes
to a single view, so GET and POST /api/documents share one.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from qa.models import Document
from qa.selectors import document_list
from qa.services import document_delete, document_ingest
from qa.throttles import DocumentWriteThrottle


class DocumentPagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 500


class DocumentSummarySerializer(serializers.Serializer):
    slug = serializers.SlugField()
    title = serializers.CharField()
    version = serializers.IntegerField()
    chunk_count = serializers.IntegerField()
    updated_at = serializers.DateTimeField()

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
EMBED_ERRORS = {
    400: OpenApiResponse(description="Bad input; the message names the field."),
    502: OpenApiResponse(description="The embedding provider failed."),
    504: OpenApiResponse(description="The embedding provider timed out."),
}


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

    def _detail(self, slug: str, *, status_code: int = status.HTTP_200_OK) -> Response:
        document = get_object_or_404(document_list(), slug=slug)
        return Response(DocumentOutputSerializer(document).data, status=status_code)


class DocumentsApi(_DocumentApi):
    pagination_class = DocumentPagination  # the schema generator reads it too

    class CreateInputSerializer(serializers.Serializer):
        slug = serializers.SlugField(max_length=200)
        title = serializers.CharField(max_length=300)
        content = serializers.CharField()
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
        responses={201: DocumentOutputSerializer, **EMBED_ERRORS, **NOT_STAFF},
    )
    def post(self, request):
        serializer = self.CreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        document, _ = document_ingest(**serializer.validated_data)
        return self._detail(document.slug, status_code=status.HTTP_201_CREATED)


class DocumentApi(_DocumentApi):
    class UpdateInputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=300)
        content = serializers.CharField()
        source = serializers.CharField(max_length=500, required=False, allow_blank=True)

        class Meta:
            ref_name = "DocumentUpdateInput"

    @extend_schema(operation_id="documents_retrieve", responses={200: DocumentOutputSerializer, **NOT_FOUND})
    def get(self, request, slug: str):
        return self._detail(slug)

    @extend_schema(
        operation_id="documents_update",
        request=UpdateInputSerializer,
        responses={200: DocumentOutputSerializer, **EMBED_ERRORS, **NOT_STAFF, **NOT_FOUND},
    )
    def put(self, request, slug: str):
        document = get_object_or_404(Document, slug=slug)
        serializer = self.UpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = {"source": document.source, **serializer.validated_data}
        document_ingest(slug=slug, **data)
        return self._detail(slug)

    @extend_schema(
        operation_id="documents_destroy",
        request=None,
        responses={204: OpenApiResponse(description="Deleted, with its chunks."), **NOT_STAFF, **NOT_FOUND},
    )
    def delete(self, request, slug: str):
        document_delete(document=get_object_or_404(Document, slug=slug))
        return Response(status=status.HTTP_204_NO_CONTENT)
