"""POST /api/cache/purge (staff or token): the admin's purge actions over HTTP."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from cache_policies import services
from cache_policies.models import Layer


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
