"""The root URLconf, above every layer: it mounts each app and joins the features that span apps.

Guideline questions (annotators' flags, answered with a published version that re-queues the
items) sit above the guidelines and queues apps. Their routes, and the guideline pages that show
their counts (handed in as view arguments), are joined here, at the URLs and names the guidelines
app always had.
"""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from labelhub.guidelines import urls as guideline_urls
from labelhub.guidelines import views as guideline_views
from labelhub.guidelines.api import ImpactView
from labelhub.queues import question_views, questions

guideline_pages = [
    path(
        "projects/<int:project_id>/",
        guideline_views.project_guidelines,
        {"open_question_count": questions.open_question_count},
        name="project",
    ),
    path(
        "projects/<int:project_id>/impact/",
        guideline_views.impact_page,
        {"questions_answered": questions.answered_per_version},
        name="impact",
    ),
    path("projects/<int:project_id>/questions/", question_views.questions_page, name="questions"),
    *guideline_urls.urlpatterns,
]

guideline_api = [
    path(
        "projects/<int:project_id>/guidelines/impact/",
        ImpactView.as_view(questions_answered=questions.answered_per_version),
        name="api-guideline-impact",
    ),
    path(
        "projects/<int:project_id>/guideline-questions/",
        question_views.QuestionsView.as_view(),
        name="api-guideline-questions",
    ),
    path(
        "projects/<int:project_id>/guideline-questions/answer/",
        question_views.AnswerQuestionsView.as_view(),
        name="api-guideline-questions-answer",
    ),
]

urlpatterns = [
    # Browsers ask for /favicon.ico on every page whatever the page's <link rel="icon"> says.
    path("favicon.ico", RedirectView.as_view(url=static("labelhub/favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include(guideline_api)),
    path("api/", include("labelhub.api_urls")),
    path("guidelines/", include((guideline_pages, "guidelines"))),
    path("snapshots/", include("labelhub.snapshots.urls")),
    path("qa/", include("annotators.qa.urls")),
    path("active/", include("active.urls")),
    path("production/", include("labelhub.production.urls")),
    path("", include("annotators.labeling.urls")),
]

handler404 = "labelhub.errors.page_not_found"
handler403 = "labelhub.errors.permission_denied"
