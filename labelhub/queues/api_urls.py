"""Queue API routes (see the URL contracts in the architecture notes)."""

from django.urls import path

from labelhub.queues import api

urlpatterns = [
    path("projects/<int:project_id>/queue/", api.QueueStatusView.as_view(), name="queue-status"),
    path("projects/<int:project_id>/queue/next/", api.NextItemView.as_view(), name="queue-next"),
    path("projects/<int:project_id>/queue/undo/", api.UndoView.as_view(), name="queue-undo"),
    path("projects/<int:project_id>/queue/release/", api.ReleaseManyView.as_view(), name="queue-release"),
    path("projects/<int:project_id>/queue/fill/", api.FillQueueView.as_view(), name="queue-fill"),
    path("projects/<int:project_id>/balance/", api.BalanceView.as_view(), name="project-balance"),
    path("leases/<int:lease_id>/submit/", api.SubmitView.as_view(), name="lease-submit"),
    path("leases/<int:lease_id>/skip/", api.SkipView.as_view(), name="lease-skip"),
    path("leases/<int:lease_id>/release/", api.ReleaseView.as_view(), name="lease-release"),
    path("leases/<int:lease_id>/flag/", api.FlagView.as_view(), name="lease-flag"),
    path("leases/<int:lease_id>/renew/", api.RenewView.as_view(), name="lease-renew"),
]
