"""Admin of the production inbox: deployments (token never shown), sampling rules, drift windows."""

from django.contrib import admin

from labelhub.production.models import Deployment, DriftWindow, SamplingRules


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "model_run", "token_prefix", "is_active", "created_at")
    list_filter = ("is_active",)
    readonly_fields = ("token_hash", "token_prefix", "scoring_queued_at", "created_at")
    search_fields = ("name",)


@admin.register(SamplingRules)
class SamplingRulesAdmin(admin.ModelAdmin):
    list_display = (
        "project",
        "enabled",
        "uncertainty_margin",
        "novelty_percentile",
        "class_quota",
        "control_share",
        "daily_budget",
    )


@admin.register(DriftWindow)
class DriftWindowAdmin(admin.ModelAdmin):
    list_display = (
        "deployment",
        "source",
        "window_start",
        "n_production",
        "domain_auc",
        "class_tvd",
        "alarm",
    )
    list_filter = ("alarm",)
    readonly_fields = [f.name for f in DriftWindow._meta.fields]
