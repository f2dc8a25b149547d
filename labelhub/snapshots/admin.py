"""Admin console: snapshots are read-only; managers cut them with the "Cut snapshot" action on
projects or the form linked from the snapshot list."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from labelhub.errors import DomainError
from labelhub.projects.models import Project, ProjectMembership
from labelhub.projects.selectors import is_manager
from labelhub.snapshots import services
from labelhub.snapshots.models import ModelRun, Snapshot


def _cut(request, projects) -> None:
    for project in projects:
        if not is_manager(request.user, project):
            messages.error(request, f"{project.name}: only its managers cut snapshots.")
            continue
        try:
            snapshot, created = services.cut_snapshot(project, user=request.user)
        except DomainError as error:
            messages.error(request, f"{project.name}: {error.message}")
            continue
        verb = "cut" if created else "unchanged, existing"
        messages.success(
            request, f"{project.name}: snapshot {snapshot.short_id} {verb} ({snapshot.item_count} items)."
        )


@admin.action(description="Cut a snapshot of the selected projects")
def cut_snapshot_action(modeladmin, request, queryset) -> None:
    _cut(request, queryset)


class CutForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.none())
    name = forms.CharField(required=False, max_length=200)
    stratify = forms.BooleanField(required=False, help_text="Assign new items class by class.")


class ModelRunInline(admin.TabularInline):
    model = ModelRun
    extra = 0
    fields = ["name", "metrics", "artifact_uri", "created_by", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = ["short_id", "name", "project", "item_count", "stratified", "created_by", "created_at"]
    list_filter = ["project"]
    search_fields = ["content_hash", "name"]
    list_select_related = ["project", "created_by"]
    inlines = [ModelRunInline]
    change_list_template = "snapshots/admin_change_list.html"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        return [
            path("cut/", self.admin_site.admin_view(self.cut_view), name="snapshots_snapshot_cut"),
            *super().get_urls(),
        ]

    def cut_view(self, request):
        """Cut a snapshot of one project the user manages (staff see every project)."""
        projects = Project.objects.all()
        if not request.user.is_superuser:
            projects = projects.filter(
                memberships__user=request.user, memberships__role=ProjectMembership.Role.MANAGER
            )
        form = CutForm(request.POST or None)
        form.fields["project"].queryset = projects
        if request.method == "POST" and form.is_valid():
            try:
                snapshot, created = services.cut_snapshot(
                    form.cleaned_data["project"],
                    name=form.cleaned_data["name"],
                    stratify=form.cleaned_data["stratify"],
                    user=request.user,
                )
            except DomainError as error:
                form.add_error("project", error.message)
            else:
                verb = "Cut" if created else "Nothing changed; existing"
                self.message_user(
                    request, f"{verb} snapshot {snapshot.short_id} ({snapshot.item_count} items)."
                )
                return redirect(reverse("admin:snapshots_snapshot_change", args=[snapshot.pk]))
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": "Cut a snapshot",
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "snapshots/admin_cut.html", context)


@admin.register(ModelRun)
class ModelRunAdmin(admin.ModelAdmin):
    list_display = ["name", "snapshot", "artifact_uri", "created_by", "created_at"]
    list_select_related = ["snapshot", "created_by"]
    search_fields = ["name", "snapshot__content_hash"]
    readonly_fields = ["snapshot", "created_by", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False  # registered by the API / client, which records the snapshot and the user


def _offer_cut_action_on_projects() -> None:
    """Add the cut action to the projects app's ProjectAdmin, if it registered one (it is not ours
    to edit); the snapshot list's "Cut a snapshot" form works either way."""
    try:
        project_admin = admin.site.get_model_admin(Project)
    except NotRegistered:
        return
    actions = list(project_admin.actions or [])
    if cut_snapshot_action not in actions:
        project_admin.actions = [*actions, cut_snapshot_action]


_offer_cut_action_on_projects()
