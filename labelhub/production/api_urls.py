"""REST routes of the production inbox (under /api/)."""

from django.urls import path

from labelhub.production import api

urlpatterns = [
    path(
        "projects/<int:project_id>/deployments/",
        api.ProjectDeployments.as_view(),
        name="api-project-deployments",
    ),
    path(
        "projects/<int:project_id>/deployments/<int:deployment_id>/",
        api.DeploymentDetail.as_view(),
        name="api-deployment",
    ),
    path(
        "projects/<int:project_id>/deployments/<int:deployment_id>/captures/",
        api.DeploymentCaptures.as_view(),
        name="api-deployment-captures",
    ),
    path(
        "projects/<int:project_id>/deployments/<int:deployment_id>/outcomes/",
        api.DeploymentOutcomes.as_view(),
        name="api-deployment-outcomes",
    ),
    path(
        "projects/<int:project_id>/production/rules/",
        api.ProjectSamplingRules.as_view(),
        name="api-production-rules",
    ),
    path(
        "projects/<int:project_id>/production/drift/", api.ProjectDrift.as_view(), name="api-production-drift"
    ),
]
