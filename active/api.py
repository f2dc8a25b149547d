"""REST API of active learning: list rounds (model versions), start one, read simulations."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from active import noise_selectors, selectors, services
from active.models import ModelRound, NoiseCheck, NoiseScore, SimulationRun
from labelhub.projects.selectors import is_manager, projects_for_user
from labelhub.weak.api import RunSerializer


class ModelRoundSerializer(serializers.ModelSerializer):
    accuracy = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = ModelRound
        fields = [
            "id",
            "number",
            "state",
            "trigger",
            "strategy",
            "batch_size",
            "device",
            "device_used",
            "attempts",
            "max_attempts",
            "error",
            "labels_used",
            "pool_size",
            "selected_count",
            "suggestions_written",
            "accuracy",
            "metrics",
            "timings",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class RoundRequestSerializer(serializers.Serializer):
    device = serializers.ChoiceField(
        choices=["auto", "cpu", "cuda"], required=False, help_text="Default: the worker's LABELHUB_AL_DEVICE."
    )


class StartedRoundSerializer(ModelRoundSerializer):
    created = serializers.BooleanField(
        help_text="False when a pending or running round was returned instead."
    )

    class Meta(ModelRoundSerializer.Meta):
        fields = [*ModelRoundSerializer.Meta.fields, "created"]
        read_only_fields = fields


class SimulationRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = SimulationRun
        fields = [
            "id",
            "strategies",
            "rounds",
            "batch_size",
            "initial_labels",
            "seed",
            "summary",
            "curve",
            "seconds",
            "created_at",
        ]
        read_only_fields = fields


class ProjectScopedMixin:
    """Resolves ``project_id`` among the user's projects: outsiders get 404, never a hint."""

    def get_project(self):
        if not hasattr(self, "_project"):
            self._project = get_object_or_404(
                projects_for_user(self.request.user), pk=self.kwargs["project_id"]
            )
        return self._project


class RoundListCreate(ProjectScopedMixin, generics.ListCreateAPIView):
    """GET: the project's rounds, newest first. POST (managers): start a round; 202 when queued,
    200 with the round already pending or running otherwise."""

    serializer_class = ModelRoundSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ModelRound.objects.none()
        return selectors.rounds_of(self.get_project())

    @extend_schema(
        request=RoundRequestSerializer, responses={202: StartedRoundSerializer, 200: StartedRoundSerializer}
    )
    def post(self, request, *args, **kwargs):
        return self.create(request, *args, **kwargs)

    def create(self, request, *args, **kwargs):
        project = self.get_project()
        if not is_manager(request.user, project):
            raise PermissionDenied("Only project managers start active-learning rounds.")
        params = RoundRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        model_round, created = services.request_round(
            project,
            trigger=ModelRound.Trigger.MANAGER,
            requested_by=request.user,
            device=params.validated_data.get("device") or None,
        )
        model_round.created = created
        data = StartedRoundSerializer(model_round).data
        return Response(data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class RoundDetail(ProjectScopedMixin, generics.RetrieveAPIView):
    serializer_class = ModelRoundSerializer
    lookup_url_kwarg = "round_id"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ModelRound.objects.none()
        return selectors.rounds_of(self.get_project())


class SimulationList(ProjectScopedMixin, generics.ListAPIView):
    serializer_class = SimulationRunSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return SimulationRun.objects.none()
        return selectors.simulations_of(self.get_project())


class WeakRunRequestSerializer(serializers.Serializer):
    method = serializers.CharField(
        required=False,
        help_text="Label model: dawid_skene_abstain (default), one_coin, dawid_skene or majority.",
    )


class WeakRunStart(ProjectScopedMixin, APIView):
    """POST (managers): apply the labeling functions and fit the label model on the worker; 202 when
    queued, 200 with the run already queued or running. Progress: ``GET …/weak-runs/<id>/``."""

    @extend_schema(responses=RunSerializer(many=True))
    def get(self, request, *args, **kwargs):
        project = self.get_project()
        if not is_manager(request.user, project):
            raise PermissionDenied("Only project managers see the labeling functions' runs.")
        return Response(RunSerializer(project.weak_runs.all()[:50], many=True).data)

    @extend_schema(request=WeakRunRequestSerializer, responses={202: RunSerializer, 200: RunSerializer})
    def post(self, request, *args, **kwargs):
        project = self.get_project()
        if not is_manager(request.user, project):
            raise PermissionDenied("Only project managers run the labeling functions.")
        params = WeakRunRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        run, created = services.request_weak_run(
            project, requested_by=request.user, method=params.validated_data.get("method")
        )
        return Response(
            RunSerializer(run).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        )


class NoiseCheckSerializer(serializers.ModelSerializer):
    class Meta:
        model = NoiseCheck
        fields = [
            "id",
            "number",
            "state",
            "trigger",
            "model_round",
            "folds",
            "review_budget",
            "device",
            "device_used",
            "head",
            "attempts",
            "max_attempts",
            "error",
            "labelled",
            "folds_done",
            "issues_found",
            "sent_to_review",
            "metrics",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class StartedNoiseCheckSerializer(NoiseCheckSerializer):
    created = serializers.BooleanField(
        help_text="False when a pending or running check was returned instead."
    )

    class Meta(NoiseCheckSerializer.Meta):
        fields = [*NoiseCheckSerializer.Meta.fields, "created"]
        read_only_fields = fields


class NoiseScoreSerializer(serializers.ModelSerializer):
    external_id = serializers.CharField(source="item.external_id", read_only=True)

    class Meta:
        model = NoiseScore
        fields = [
            "rank",
            "item",
            "external_id",
            "given",
            "suggested",
            "confidence",
            "quality",
            "is_issue",
            "outlier",
            "annotators",
            "fold",
            "proba",
        ]
        read_only_fields = fields


class ManagerOnlyMixin(ProjectScopedMixin):
    def get_project(self):
        project = super().get_project()
        if not is_manager(self.request.user, project):
            raise PermissionDenied("Only project managers see and start label-noise checks.")
        return project


class NoiseCheckListCreate(ManagerOnlyMixin, generics.ListCreateAPIView):
    """GET: the project's label-noise checks, newest first. POST: start one (202 when queued, 200 with
    the check already pending or running)."""

    serializer_class = NoiseCheckSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return NoiseCheck.objects.none()
        return noise_selectors.checks_of(self.get_project())

    @extend_schema(
        request=RoundRequestSerializer,
        responses={202: StartedNoiseCheckSerializer, 200: StartedNoiseCheckSerializer},
    )
    def post(self, request, *args, **kwargs):
        return self.create(request, *args, **kwargs)

    def create(self, request, *args, **kwargs):
        project = self.get_project()
        params = RoundRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        check, created = services.request_noise_check(
            project, requested_by=request.user, device=params.validated_data.get("device") or None
        )
        check.created = created
        data = StartedNoiseCheckSerializer(check).data
        return Response(data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class NoiseCheckDetail(ManagerOnlyMixin, generics.RetrieveAPIView):
    serializer_class = NoiseCheckSerializer
    lookup_url_kwarg = "check_id"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return NoiseCheck.objects.none()
        return noise_selectors.checks_of(self.get_project())


class NoiseSuspectList(ManagerOnlyMixin, generics.ListAPIView):
    """A check's scored items, most suspect first (paginated); gold items are never among them."""

    serializer_class = NoiseScoreSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return NoiseScore.objects.none()
        check = get_object_or_404(noise_selectors.checks_of(self.get_project()), pk=self.kwargs["check_id"])
        return noise_selectors.suspects_of(check)


class DataQuality(ManagerOnlyMixin, generics.GenericAPIView):
    """What the data-quality page shows: suspects by class and annotator, review over checks,
    near-duplicate conflicts, outliers."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, *args, **kwargs):
        return Response(noise_selectors.data_quality(self.get_project()))
