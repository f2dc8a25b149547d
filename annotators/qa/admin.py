"""Admin console for QA: gold answers, consensus, annotator stats, flags and adjudication."""

from __future__ import annotations

from django.contrib import admin, messages

from annotators.qa import adjudication, gold
from annotators.qa.models import AdjudicationTask, AnnotatorFlag, AnnotatorStats, ConsensusLabel, GoldItem


@admin.register(GoldItem)
class GoldItemAdmin(admin.ModelAdmin):
    list_display = ["item", "labels", "source", "created_by", "created_at"]
    list_filter = ["source", "item__project"]
    raw_id_fields = ["item"]
    readonly_fields = ["created_by", "created_at"]
    search_fields = ["item__external_id"]

    def save_model(self, request, obj, form, change):
        obj.labels = gold.validate_labels(obj.item.project, obj.labels)
        obj.created_by = obj.created_by or request.user
        super().save_model(request, obj, form, change)


@admin.register(ConsensusLabel)
class ConsensusLabelAdmin(admin.ModelAdmin):
    list_display = ["item", "labels", "method", "confidence", "annotator_count", "updated_at"]
    list_filter = ["method", "item__project"]
    raw_id_fields = ["item"]
    search_fields = ["item__external_id"]
    actions = ["mark_as_gold"]

    @admin.action(description="Mark the selected consensus labels as gold answers")
    def mark_as_gold(self, request, queryset):
        by_project: dict = {}
        for label in queryset.select_related("item__project"):
            by_project.setdefault(label.item.project, []).append((label.item_id, label.labels))
        for project, answers in by_project.items():
            gold.mark_gold(project, answers, user=request.user)
        self.message_user(request, f"{sum(len(a) for a in by_project.values())} items marked as gold.")


@admin.register(AnnotatorStats)
class AnnotatorStatsAdmin(admin.ModelAdmin):
    list_display = [
        "annotator",
        "project",
        "annotations",
        "gold_seen",
        "gold_correct",
        "consensus_seen",
        "consensus_agreed",
        "last_evaluated_at",
    ]
    list_filter = ["project"]
    list_select_related = ["annotator", "project"]


@admin.register(AnnotatorFlag)
class AnnotatorFlagAdmin(admin.ModelAdmin):
    list_display = ["annotator", "project", "kind", "reason", "paused", "created_at", "resolved_at"]
    list_filter = ["project", "kind", "resolved_at"]
    list_select_related = ["annotator", "project"]


@admin.register(AdjudicationTask)
class AdjudicationTaskAdmin(admin.ModelAdmin):
    list_display = ["item", "project", "reason", "status", "confidence", "resolved_labels", "resolved_by"]
    list_filter = ["project", "status", "reason"]
    raw_id_fields = ["item"]
    list_select_related = ["item", "project", "resolved_by"]
    actions = ["promote_to_gold"]

    @admin.action(description="Promote the selected resolutions to gold answers")
    def promote_to_gold(self, request, queryset):
        promoted = 0
        for project_id in set(queryset.values_list("project_id", flat=True)):
            tasks = queryset.filter(project_id=project_id)
            project = tasks.first().project
            promoted += adjudication.promote_resolutions_to_gold(
                project, tasks.values_list("pk", flat=True), user=request.user
            )
        self.message_user(request, f"{promoted} resolutions promoted to gold.", messages.SUCCESS)
