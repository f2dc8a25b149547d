"""Admin console for QA: gold answers, consensus, annotator stats, flags and adjudication."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from annotators.qa import adjudication, gold
from annotators.qa.models import AdjudicationTask, AnnotatorFlag, AnnotatorStats, ConsensusLabel, GoldItem
from labelhub.errors import DomainError
from labelhub.projects.labels import clean_labels
from labelhub.projects.selectors import label_schema


class GoldItemForm(forms.ModelForm):
    """The gold answer passes the project's label rule and is stored in canonical form."""

    class Meta:
        model = GoldItem
        fields = ["item", "labels", "source"]

    def clean(self):
        cleaned = super().clean()
        item = cleaned.get("item")
        if item is not None and "labels" in cleaned:
            try:
                cleaned["labels"] = clean_labels(label_schema(item.project), cleaned["labels"])
            except DomainError as error:  # presentation: the form shows it beside the field
                self.add_error("labels", error.message)
        return cleaned


@admin.register(GoldItem)
class GoldItemAdmin(admin.ModelAdmin):
    form = GoldItemForm
    list_display = ["item", "labels", "source", "created_by", "created_at"]
    list_filter = ["source", "item__project"]
    raw_id_fields = ["item"]
    readonly_fields = ["created_by", "created_at"]
    search_fields = ["item__external_id"]

    def save_model(self, request, obj, form, change):
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
        marked = 0
        for project, answers in by_project.items():
            try:
                marked += len(gold.mark_gold(project, answers, user=request.user))
            except DomainError as error:  # presentation: one project's bad answer, the others go on
                self.message_user(request, f"{project.name}: {error.message}", messages.ERROR)
        self.message_user(request, f"{marked} items marked as gold.")


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
            try:
                promoted += adjudication.promote_resolutions_to_gold(
                    project, tasks.values_list("pk", flat=True), user=request.user
                )
            except DomainError as error:  # presentation: a resolution the schema no longer accepts
                self.message_user(request, f"{project.name}: {error.message}", messages.ERROR)
        self.message_user(request, f"{promoted} resolutions promoted to gold.", messages.SUCCESS)
