"""Console for active learning: rounds (model versions) with retry and start-again actions, simulations."""

from __future__ import annotations

from django.contrib import admin, messages

from active import selectors, services
from active.models import ActiveSettings, ModelRound, NoiseCheck, NoiseReview, SimulationRun
from labelhub.errors import DomainError


@admin.register(ModelRound)
class ModelRoundAdmin(admin.ModelAdmin):
    list_display = (
        "project",
        "number",
        "state",
        "trigger",
        "strategy",
        "labels_used",
        "selected_count",
        "accuracy",
        "attempts",
        "device_used",
        "created_at",
    )
    list_filter = ("state", "trigger", "strategy", "project")
    list_select_related = ("project",)
    readonly_fields = [f.name for f in ModelRound._meta.fields]
    actions = ["start_new_round", "retry_failed"]

    @admin.action(description="Start a new round for the selected rounds' projects")
    def start_new_round(self, request, queryset):
        projects = {r.project for r in queryset.select_related("project")}
        for project in projects:
            try:
                model_round, created = services.request_round(
                    project, trigger=ModelRound.Trigger.MANAGER, requested_by=request.user
                )
            except DomainError as error:
                self.message_user(request, f"{project}: {error.message}", messages.ERROR)
                continue
            verb = "queued" if created else f"already {model_round.state}"
            self.message_user(request, f"{project}: round {model_round.number} {verb}")

    @admin.action(description="Retry the selected failed rounds (one more attempt each)")
    def retry_failed(self, request, queryset):
        retried = 0
        for model_round in queryset.filter(state=ModelRound.State.FAILED):
            if selectors.active_round(model_round.project) is not None:
                self.message_user(
                    request, f"{model_round}: the project already has a round in progress", messages.WARNING
                )
                continue
            services.retry_failed_round(model_round)
            retried += 1
        self.message_user(request, f"{retried} round(s) queued again")

    def has_add_permission(self, request):
        return False


@admin.register(SimulationRun)
class SimulationRunAdmin(admin.ModelAdmin):
    list_display = ("project", "id", "strategies", "rounds", "batch_size", "seed", "seconds", "created_at")
    list_filter = ("project",)
    readonly_fields = [f.name for f in SimulationRun._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ActiveSettings)
class ActiveSettingsAdmin(admin.ModelAdmin):
    """The forecast's target accuracy and cost per annotator-hour, and the control slice's share, per project."""

    list_display = ("project", "target_accuracy", "cost_per_hour", "control_share")
    list_select_related = ("project",)


@admin.register(NoiseCheck)
class NoiseCheckAdmin(admin.ModelAdmin):
    """Label-noise checks; the action starts a new one for the selected checks' projects."""

    list_display = (
        "project",
        "number",
        "state",
        "trigger",
        "labelled",
        "folds_done",
        "issues_found",
        "sent_to_review",
        "attempts",
        "created_at",
    )
    list_filter = ("state", "trigger", "project")
    list_select_related = ("project",)
    readonly_fields = [f.name for f in NoiseCheck._meta.fields]
    actions = ["start_new_check"]

    @admin.action(
        description="Check labels again (a new label-noise check) for the selected checks' projects"
    )
    def start_new_check(self, request, queryset):
        for project in {c.project for c in queryset.select_related("project")}:
            check, created = services.request_noise_check(project, requested_by=request.user)
            verb = "queued" if created else f"already {check.state}"
            self.message_user(request, f"{project}: label-noise check {check.number} {verb}")

    def has_add_permission(self, request):
        return False


@admin.register(NoiseReview)
class NoiseReviewAdmin(admin.ModelAdmin):
    list_display = (
        "noise_check",
        "item",
        "given",
        "suggested",
        "confidence",
        "quality",
        "outcome",
        "resolved_at",
    )
    list_filter = ("outcome",)
    list_select_related = ("noise_check__project", "item")
    readonly_fields = [f.name for f in NoiseReview._meta.fields]

    def has_add_permission(self, request):
        return False
