"""QA pages (under /qa/)."""

from django.urls import path

from annotators.qa import views as qa_views

urlpatterns = [
    path("projects/<int:project_id>/", qa_views.dashboard, name="qa-dashboard"),
    path("projects/<int:project_id>/consensus/", qa_views.recompute_consensus, name="qa-recompute-consensus"),
    path("projects/<int:project_id>/evaluate/", qa_views.evaluate, name="qa-evaluate"),
    path(
        "projects/<int:project_id>/flags/<int:flag_id>/resolve/",
        qa_views.resolve_flag,
        name="qa-resolve-flag",
    ),
    path("projects/<int:project_id>/adjudication/", qa_views.adjudication_queue, name="qa-adjudication"),
    path(
        "projects/<int:project_id>/adjudication/<int:task_id>/resolve/",
        qa_views.adjudication_resolve,
        name="qa-adjudication-resolve",
    ),
]
