"""The REST API, one include per app."""

from django.urls import include, path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken


class TokenView(ObtainAuthToken):
    """POST username and password, get the API token to send as ``Authorization: Token <key>``.
    Needs no authentication (it is how a client gets some), so the schema says so."""

    authentication_classes: list = []

    @extend_schema(
        auth=[],
        request=AuthTokenSerializer,
        responses={200: inline_serializer("Token", {"token": serializers.CharField()})},
        operation_id="token_create",
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


urlpatterns = [
    path("token/", TokenView.as_view(), name="api-token"),
    path("", include("labelhub.projects.api_urls")),
    path("", include("labelhub.queues.api_urls")),
    path("", include("labelhub.guidelines.api_urls")),
    path("", include("labelhub.snapshots.api_urls")),
    path("", include("annotators.qa.api_urls")),
    path("", include("labelhub.weak.api_urls")),
    path("", include("active.api_urls")),
    path("", include("labelhub.production.api_urls")),
]
