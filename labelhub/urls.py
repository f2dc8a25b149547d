from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include("labelhub.api_urls")),
    path("guidelines/", include("labelhub.guidelines.urls")),
    path("snapshots/", include("labelhub.snapshots.urls")),
    path("qa/", include("annotators.qa.urls")),
    path("active/", include("active.urls")),
    path("", include("annotators.labeling.urls")),
]
