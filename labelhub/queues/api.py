"""The queue API: next item (with prefetch), submit, skip, flag, release, undo, fill and balance.

Views only parse input, call one service or selector, and shape the output. Errors are domain
errors (:class:`~labelhub.queues.services.QueueError`, the guideline gate's 409, invalid labels):
the API's one exception handler (:mod:`labelhub.errors`) gives each its status and body.
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from labelhub.errors import DomainError, Forbidden
from labelhub.projects.models import Project
from labelhub.projects.selectors import is_manager, projects_for_user
from labelhub.queues import selectors, services
from labelhub.queues.models import Lease
from labelhub.queues.sampling import balance_report
from labelhub.weak.selectors import weak_suggestions


def lease_payload(lease: Lease, weak: dict[int, dict] | None = None) -> dict:
    """What an annotator sees of a lease: the item, the model's suggestion and the weak label's
    (marked ``"source": "weak"``) — never why it was queued."""
    item = lease.entry.item
    if weak is None:
        weak = weak_suggestions([item])
    return {
        "lease": {"id": lease.pk, "expires_at": lease.expires_at},
        "item": {
            "id": item.pk,
            "external_id": item.external_id,
            "payload": item.payload,
            "suggestion": item.suggestion,
            "weak_suggestion": weak.get(item.pk),
        },
    }


class ProjectScopedView(APIView):
    """Resolves ``project_id`` among the user's projects: outsiders get 404, never a hint."""

    def get_project(self, project_id: int, projects=None) -> Project:
        # projects_for_user holds the user's memberships (all projects for staff): no second check.
        return get_object_or_404(
            projects if projects is not None else projects_for_user(self.request.user), pk=project_id
        )


class LeaseScopedView(APIView):
    def get_lease(self, lease_id: int) -> Lease:
        visible = projects_for_user(self.request.user)
        return get_object_or_404(Lease.objects.filter(entry__project__in=visible), pk=lease_id)


def parse_count(raw_count: str | None) -> int:
    """The ``?count=`` of "next": how many leases to prefetch (1 when absent)."""
    if raw_count is None:
        return 1
    try:
        count = int(raw_count)
    except ValueError:
        raise DomainError(f"count must be an integer, got {raw_count!r}.", field="count") from None
    if not 1 <= count <= services.MAX_PREFETCH:
        raise DomainError(f"count must be between 1 and {services.MAX_PREFETCH}, got {count}.", field="count")
    return count


#: What a 204 from "next" asks a client to wait before asking again, while items may still come.
RETRY_AFTER_SECONDS = 2


class NextItemView(ProjectScopedView):
    """Lease the next item; ``?count=N`` (at most 10) leases several for prefetching."""

    @extend_schema(request=None, responses={200: dict, 204: None, 403: dict, 409: dict})
    def post(self, request, project_id: int):
        if services.nothing_left_recently(request.user.pk, project_id):
            return Response(status=status.HTTP_204_NO_CONTENT)  # as below, told a moment ago
        # The project (among the user's), their QA pause and guideline acknowledgement in one query.
        project = services.serving_project(request.user, project_id)
        if project is None:
            raise Http404
        raw_count = request.query_params.get("count")
        count = parse_count(raw_count)
        leases = services.lease_next_items(request.user, project, count)
        if not leases:
            # Nothing now. Unless the project is known to have nothing left, more may come soon (a
            # fill is running, or others' leases come back): Retry-After says so.
            exhausted = services.is_exhausted(project.queue_exhausted_at) or services.project_exhausted(
                project
            )
            if exhausted:
                services.remember_nothing_left(request.user.pk, project.pk)
            headers = {} if exhausted else {"Retry-After": str(RETRY_AFTER_SECONDS)}
            return Response(status=status.HTTP_204_NO_CONTENT, headers=headers)
        weak = weak_suggestions([lease.entry.item for lease in leases])
        if raw_count is None:
            return Response(lease_payload(leases[0], weak))
        return Response({"results": [lease_payload(lease, weak) for lease in leases]})


class SubmitSerializer(serializers.Serializer):
    labels = serializers.ListField(child=serializers.CharField(allow_blank=False), allow_empty=True)
    time_spent = serializers.FloatField(
        min_value=0, max_value=services.MAX_TIME_SPENT, required=False, default=0, help_text="seconds"
    )

    def validate_time_spent(self, value: float) -> float:
        return services.check_time_spent(value)  # NaN and ±inf pass DRF's FloatField bounds


class SubmitView(LeaseScopedView):
    @extend_schema(request=SubmitSerializer, responses={201: dict, 400: dict})
    def post(self, request, lease_id: int):
        payload = SubmitSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        # The lease is looked up, scoped to the user's projects (404 outside) and locked at once.
        annotation = services.submit_annotation(
            lease_id,
            payload.validated_data["labels"],
            payload.validated_data["time_spent"],
            annotator=request.user,
            scoped=True,
        )
        return Response(
            {
                "annotation": {
                    "id": annotation.pk,
                    "item": annotation.item_id,
                    "labels": annotation.labels,
                    "guideline_version": annotation.guideline_version_id,
                }
            },
            status=status.HTTP_201_CREATED,
        )


class SkipView(LeaseScopedView):
    @extend_schema(request=None, responses={200: dict, 400: dict})
    def post(self, request, lease_id: int):
        lease = services.skip(self.get_lease(lease_id), request.user)
        return Response({"lease": lease.pk, "released": lease.release_reason})


class ReleaseView(LeaseScopedView):
    @extend_schema(request=None, responses={200: dict, 400: dict})
    def post(self, request, lease_id: int):
        lease = services.release_lease(self.get_lease(lease_id), request.user)
        return Response({"lease": lease.pk, "released": lease.release_reason})


class RenewView(LeaseScopedView):
    @extend_schema(request=None, responses={200: dict, 400: dict})
    def post(self, request, lease_id: int):
        lease = services.renew_lease(self.get_lease(lease_id), request.user)
        return Response({"lease": {"id": lease.pk, "expires_at": lease.expires_at}})


class FlagSerializer(serializers.Serializer):
    comment = serializers.CharField(allow_blank=True, required=False, default="", max_length=5000)


class FlagView(LeaseScopedView):
    @extend_schema(request=FlagSerializer, responses={201: dict, 400: dict})
    def post(self, request, lease_id: int):
        lease = self.get_lease(lease_id)
        payload = FlagSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        item_flag = services.flag(lease, request.user, payload.validated_data["comment"])
        return Response(
            {"flag": {"id": item_flag.pk, "item": item_flag.item_id}}, status=status.HTTP_201_CREATED
        )


class ReleaseManySerializer(serializers.Serializer):
    # Ids beyond a 64-bit integer match no lease: refused here, before the database sees them.
    leases = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), max_length=100
    )


class ReleaseManyView(ProjectScopedView):
    """Release the page's unused prefetched leases when the annotator leaves or the queue changes."""

    @extend_schema(request=ReleaseManySerializer, responses={200: dict})
    def post(self, request, project_id: int):
        self.get_project(project_id)
        payload = ReleaseManySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        released = services.release_leases(payload.validated_data["leases"], request.user)
        return Response({"released": released})


class UndoSerializer(serializers.Serializer):
    since = serializers.DateTimeField(
        required=False,
        help_text="Undo only an annotation made at or after this time (the labeling page sends when "
        "it was opened); absent: the latest annotation",
    )


class UndoView(ProjectScopedView):
    @extend_schema(request=UndoSerializer, responses={200: dict, 400: dict})
    def post(self, request, project_id: int):
        project = self.get_project(project_id)
        payload = UndoSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        annotation, lease = services.undo_last_submit(
            request.user, project, since=payload.validated_data.get("since")
        )
        body = lease_payload(lease)
        body["retracted"] = {"id": annotation.pk, "labels": annotation.labels}
        return Response(body)


class FillSerializer(serializers.Serializer):
    count = serializers.IntegerField(
        min_value=1, max_value=10000, required=False, default=services.DEFAULT_FILL_SIZE
    )
    items = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='[{"id": item id, "priority": float}] to reprioritise',
    )

    def validate_items(self, value: list[dict]) -> list[tuple[int, float]]:
        pairs = []
        for index, entry in enumerate(value):
            try:
                pairs.append((int(entry["id"]), float(entry.get("priority", 0))))
            except (KeyError, TypeError, ValueError):
                raise serializers.ValidationError(
                    f"items[{index}] must be {{'id': int, 'priority': number}}, got {entry!r}."
                ) from None
        return pairs


class FillQueueView(ProjectScopedView):
    """Manager: refill the queue (random / balance sampling) or set priorities; pages are told."""

    @extend_schema(request=FillSerializer, responses={200: dict, 403: dict})
    def post(self, request, project_id: int):
        project = self.get_project(project_id)
        if not is_manager(request.user, project):
            raise Forbidden("Only the project's managers may refill or re-prioritise its queue.")
        payload = FillSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        pairs = payload.validated_data.get("items")
        if pairs:
            changed = services.reprioritise(project, pairs, created_by=request.user)
            return Response({"reprioritised": changed, "queue": selectors.queue_counts(project)})
        added = services.fill_queue(project, payload.validated_data["count"], created_by=request.user)
        return Response({"added": added, "queue": selectors.queue_counts(project)})


class QueueStatusView(ProjectScopedView):
    @extend_schema(responses={200: dict})
    def get(self, request, project_id: int):
        project = self.get_project(project_id)
        return Response(
            {
                "progress": selectors.annotator_progress(request.user, project),
                **selectors.queue_counts(project),
            }
        )


class BalanceView(ProjectScopedView):
    """Target vs actual label share per class."""

    @extend_schema(responses={200: dict})
    def get(self, request, project_id: int):
        return Response(balance_report(self.get_project(project_id)))
