"""The REST API, one include per app."""

from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token

urlpatterns = [
    path("token/", obtain_auth_token, name="api-token"),
    path("", include("labelhub.projects.api_urls")),
    path("", include("labelhub.queues.api_urls")),
    path("", include("labelhub.guidelines.api_urls")),
    path("", include("labelhub.snapshots.api_urls")),
    path("", include("annotators.qa.api_urls")),
    path("", include("labelhub.weak.api_urls")),
    path("", include("active.api_urls")),
]
