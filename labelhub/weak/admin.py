"""The console's labeling functions: edit one (every change of definition bumps its version), see
its statistics live as you edit (static/weak/preview.js, on a sample, through the preview API), its
history and its statistics from the last apply."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from labelhub.errors import DomainError
from labelhub.projects.selectors import label_schema
from labelhub.weak import services
from labelhub.weak.definitions import clean_definition
from labelhub.weak.models import LabelingFunction, LabelingFunctionVersion, WeakRun
from labelhub.weak.selectors import project_stats


class FunctionForm(forms.ModelForm):
    class Meta:
        model = LabelingFunction
        fields = ["project", "name", "kind", "label", "config", "is_active"]

    def clean(self):
        """The definition rules of :mod:`labelhub.weak.definitions`, shown on the field they name."""
        data = super().clean()
        project = data.get("project")
        if project is None or self.errors:
            return data
        try:
            clean_definition(data.get("kind"), data.get("label"), data.get("config"), label_schema(project))
        except DomainError as error:
            field = (error.field or "").split(".")[0].split("[")[0]
            self.add_error(field if field in self.fields else None, f"{error.field}: {error.message}")
        return data


class VersionInline(admin.TabularInline):
    model = LabelingFunctionVersion
    extra = 0
    can_delete = False
    fields = ["version", "kind", "label", "config", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LabelingFunction)
class LabelingFunctionAdmin(admin.ModelAdmin):
    form = FunctionForm
    list_display = ["name", "project", "kind", "label", "version", "is_active", "coverage"]
    list_filter = ["project", "kind", "is_active"]
    search_fields = ["name"]
    readonly_fields = ["live_preview", "version", "statistics"]
    inlines = [VersionInline]

    class Media:
        js = ["weak/preview.js"]

    #: Stands for the project id in the preview URL until the page knows which project is chosen.
    PROJECT_PLACEHOLDER = 987654321

    @admin.display(description="live statistics (sample)")
    def live_preview(self, obj: LabelingFunction | None) -> str:
        """The panel the page script fills as the definition is edited; nothing is computed here."""
        url = reverse("weak-function-preview", kwargs={"project_id": self.PROJECT_PLACEHOLDER})
        return format_html(
            '<div class="lf-live-preview" aria-live="polite" data-preview-url="{}" '
            'data-project-placeholder="{}" data-function="{}">Edit the definition to see its statistics.</div>',
            url,
            self.PROJECT_PLACEHOLDER,
            obj.pk if obj is not None and obj.pk is not None else "",
        )

    @admin.display(description="votes (last apply)")
    def coverage(self, obj: LabelingFunction) -> str:
        row = getattr(obj, "votes", None)
        if row is None or row.version != obj.version:
            return "not applied"
        return f"{len(bytes(row.item_ids)) // 8} of {row.evaluated}"

    @admin.display(description="statistics")
    def statistics(self, obj: LabelingFunction) -> str:
        if obj.pk is None:
            return "—"
        found = next((s for s in project_stats(obj.project)["functions"] if s["name"] == obj.name), None)
        if found is None:
            return "not applied yet"
        shown = {k: v for k, v in found.items() if k != "wrong"}
        wrong = format_html_join(
            "",
            "<li>item {}: voted {}, answer {}</li>",
            ((w["item"], w["voted"], w["answer"]) for w in found["wrong"]),
        )
        return format_html("<pre>{}</pre><ul>{}</ul>", json.dumps(shown, indent=1), wrong)

    def save_model(self, request, obj, form, change) -> None:
        # Through the services: validation naming the field, and the version bump with history.
        data = form.cleaned_data
        if change:
            saved = services.update_function(
                LabelingFunction.objects.get(pk=obj.pk),
                user=request.user,
                name=data["name"],
                kind=data["kind"],
                label=data["label"],
                config=data["config"],
                is_active=data["is_active"],
            )
        else:
            saved = services.create_function(
                data["project"],
                name=data["name"],
                kind=data["kind"],
                label=data["label"],
                config=data["config"],
                user=request.user,
            )
        obj.pk, obj.version = saved.pk, saved.version

    def save_related(self, request, form, formsets, change) -> None:
        pass  # the version history is written by the services, never by hand


@admin.register(WeakRun)
class WeakRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "project",
        "status",
        "method",
        "items_done",
        "items_total",
        "created_at",
        "finished_at",
    ]
    list_filter = ["project", "status"]
    readonly_fields = [f.name for f in WeakRun._meta.fields]
