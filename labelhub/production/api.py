"""REST API of the production inbox: deployments, captures and outcomes, sampling rules, drift."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import authentication, generics, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from labelhub.errors import Forbidden
from labelhub.production import selectors, services
from labelhub.production.auth import DeploymentTokenAuthentication
from labelhub.production.models import Deployment, DriftWindow, SamplingRules
from labelhub.production.parsers import CaptureJSONParser
from labelhub.projects.selectors import is_manager, projects_with_visible_labels
from labelhub.snapshots.models import ModelRun
from labelhub.tokens import TokenAuthentication


class DeploymentSerializer(serializers.ModelSerializer):
    model_run = serializers.PrimaryKeyRelatedField(queryset=ModelRun.objects.all())
    snapshot_id = serializers.CharField(source="model_run.snapshot.content_hash", read_only=True)
    captures_url = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = [
            "id",
            "name",
            "model_run",
            "snapshot_id",
            "webhook_url",
            "is_active",
            "token_prefix",
            "created_at",
            "captures_url",
        ]
        read_only_fields = ["id", "is_active", "token_prefix", "created_at"]

    def get_captures_url(self, deployment: Deployment) -> str:
        return f"/api/projects/{deployment.project_id}/deployments/{deployment.pk}/captures/"


class NewDeploymentSerializer(DeploymentSerializer):
    token = serializers.CharField(read_only=True, help_text="The capture token: shown this once only.")

    class Meta(DeploymentSerializer.Meta):
        fields = [*DeploymentSerializer.Meta.fields, "token"]


class SamplingRulesSerializer(serializers.ModelSerializer):
    class Meta:
        model = SamplingRules
        fields = list(services.RULE_FIELDS)


class DriftWindowSerializer(serializers.ModelSerializer):
    class Meta:
        model = DriftWindow
        exclude = ["deployment"]


class BatchSerializer(serializers.Serializer):
    records = serializers.ListField(child=serializers.JSONField(), help_text="Up to 10,000 records.")


class BatchAnswerSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Keys this deployment had already sent.")


def _project_for(user, project_id: int):
    return get_object_or_404(projects_with_visible_labels(user), pk=project_id)


class ProjectDeployments(generics.ListAPIView):
    """GET: the project's deployments. POST (managers): ``{"name", "model_run", "webhook_url"}``;
    the answer holds the capture token, shown this once."""

    serializer_class = DeploymentSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Deployment.objects.none()
        project = _project_for(self.request.user, self.kwargs["project_id"])
        return selectors.deployments_for_user(self.request.user).filter(project=project)

    @extend_schema(request=DeploymentSerializer, responses={201: NewDeploymentSerializer})
    def post(self, request, project_id: int):
        project = _project_for(request.user, project_id)
        if not is_manager(request.user, project):
            raise Forbidden("only project managers deploy models")
        params = DeploymentSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        deployment, token = services.create_deployment(
            project,
            params.validated_data["model_run"],
            name=params.validated_data["name"],
            webhook_url=params.validated_data.get("webhook_url", ""),
            user=request.user,
        )
        body = NewDeploymentSerializer(deployment).data
        body["token"] = token
        return Response(body, status=status.HTTP_201_CREATED)


class DeploymentDetail(generics.RetrieveAPIView):
    serializer_class = DeploymentSerializer

    def get_object(self):
        return get_object_or_404(
            selectors.deployments_for_user(self.request.user),
            pk=self.kwargs["deployment_id"],
            project_id=self.kwargs["project_id"],
        )


class MayCapture(BasePermission):
    """The deployment's own capture token, or a manager of its project (a backfill from a notebook)."""

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, Deployment):
            return (
                request.auth.pk == view.kwargs["deployment_id"]
                and request.auth.project_id == view.kwargs["project_id"]
            )
        return request.user.is_authenticated


class _CaptureView(APIView):
    authentication_classes = [
        DeploymentTokenAuthentication,
        TokenAuthentication,
        authentication.SessionAuthentication,
    ]
    permission_classes = [MayCapture]
    parser_classes = [CaptureJSONParser]

    def deployment(self, request) -> Deployment:
        if isinstance(request.auth, Deployment):
            return request.auth
        deployment = get_object_or_404(
            Deployment.objects.select_related("project"),
            pk=self.kwargs["deployment_id"],
            project_id=self.kwargs["project_id"],
            project__in=projects_with_visible_labels(request.user),
        )
        if not is_manager(request.user, deployment.project):
            raise Forbidden("only the deployment's token or a project manager sends captures")
        return deployment

    @staticmethod
    def records(request):
        return request.data.get("records") if isinstance(request.data, dict) else None


class DeploymentCaptures(_CaptureView):
    """POST ``{"records": [...]}``: what the model saw and predicted (``Authorization: Deployment <token>``)."""

    @extend_schema(request=BatchSerializer, responses={200: BatchAnswerSerializer})
    def post(self, request, project_id: int, deployment_id: int):
        return Response(services.capture_batch(self.deployment(request), self.records(request)))


class DeploymentOutcomes(_CaptureView):
    """POST ``{"records": [{"key", "outcome"}]}``: the true labels of earlier captures, once known."""

    @extend_schema(request=BatchSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, project_id: int, deployment_id: int):
        return Response(services.record_outcomes(self.deployment(request), self.records(request)))


class ProjectSamplingRules(APIView):
    """GET: the project's sampling rules. PATCH (managers): change some of them."""

    @extend_schema(responses={200: SamplingRulesSerializer})
    def get(self, request, project_id: int):
        project = _project_for(request.user, project_id)
        return Response(SamplingRulesSerializer(selectors.sampling_rules(project)).data)

    @extend_schema(request=SamplingRulesSerializer, responses={200: SamplingRulesSerializer})
    def patch(self, request, project_id: int):
        project = _project_for(request.user, project_id)
        if not is_manager(request.user, project):
            raise Forbidden("only project managers change the sampling rules")
        changes = request.data if isinstance(request.data, dict) else {"rules": request.data}
        return Response(SamplingRulesSerializer(services.update_rules(project, dict(changes))).data)


class ProjectDrift(generics.ListAPIView):
    """GET: drift windows of the project's deployments, newest first (``?deployment=<id>``)."""

    serializer_class = DriftWindowSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return DriftWindow.objects.none()
        project = _project_for(self.request.user, self.kwargs["project_id"])
        rows = DriftWindow.objects.filter(deployment__project=project).order_by("-window_start", "source")
        deployment = self.request.query_params.get("deployment")
        if deployment and deployment.isdigit():
            rows = rows.filter(deployment_id=int(deployment))
        return rows
