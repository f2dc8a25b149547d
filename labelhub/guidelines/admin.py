"""The console's guideline editor: drafts with a live preview, class definitions and examples,
"Save and publish", new draft from a version, history and rendered diffs.

Published versions open read-only (and cannot be deleted): the model layer refuses changes anyway,
the admin just never offers them. All changes go through :mod:`labelhub.guidelines.services`
where one exists (publishing, new drafts).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from labelhub.errors import DomainError
from labelhub.guidelines import selectors, services
from labelhub.guidelines.diff import diff_versions
from labelhub.guidelines.errors import page_message
from labelhub.guidelines.models import (
    ClassDefinition,
    GuidelineAcknowledgement,
    GuidelineExample,
    GuidelineVersion,
)
from labelhub.guidelines.presentation import version_html
from labelhub.guidelines.widgets import MarkdownEditor
from labelhub.projects.models import LabelClass


class GuidelineVersionForm(forms.ModelForm):
    class Meta:
        model = GuidelineVersion
        fields = ["project", "change_summary", "body", "ambiguous_cases"]
        widgets = {
            "body": MarkdownEditor(rows=22),
            "ambiguous_cases": MarkdownEditor(rows=8),
            "change_summary": forms.Textarea(attrs={"rows": 2, "cols": 80}),
        }
        help_texts = {
            "change_summary": "What changed and why, in a sentence or two. Annotators read it before their "
            "next item; it is required to publish.",
        }


def _version_id_of(request: HttpRequest) -> str | None:
    match = request.resolver_match
    return match.kwargs.get("object_id") if match else None


class _VersionPartInline(admin.StackedInline):
    """Rows of a version's content: editable on drafts, read-only once published."""

    extra = 0

    def _published(self, obj: GuidelineVersion | None) -> bool:
        return obj is not None and obj.is_published

    def has_add_permission(self, request, obj=None):
        return not self._published(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._published(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._published(obj) and super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "label_class":
            version_id = _version_id_of(request)
            project_id = (
                GuidelineVersion.objects.filter(pk=version_id).values_list("project_id", flat=True).first()
                if version_id and version_id.isdigit()
                else None
            )
            kwargs["queryset"] = (
                LabelClass.objects.filter(project_id=project_id) if project_id else LabelClass.objects.none()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ClassDefinitionInline(_VersionPartInline):
    model = ClassDefinition
    fields = ["label_class", "definition", "order"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "definition":
            kwargs["widget"] = MarkdownEditor(rows=5)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class GuidelineExampleInline(_VersionPartInline, admin.TabularInline):
    model = GuidelineExample
    fields = ["label_class", "kind", "text", "item", "note", "order"]
    raw_id_fields = ["item"]
    template = "admin/edit_inline/tabular.html"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "text":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 2, "cols": 40})
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(GuidelineVersion)
class GuidelineVersionAdmin(admin.ModelAdmin):
    form = GuidelineVersionForm
    inlines = [ClassDefinitionInline, GuidelineExampleInline]
    list_display = [
        "version_label",
        "project",
        "status",
        "short_summary",
        "published_by",
        "published_at",
        "diff_link",
    ]
    list_filter = ["project", "status"]
    list_select_related = ["project", "published_by"]
    search_fields = ["body", "change_summary", "project__name"]
    ordering = ["project", "-number", "-created_at"]
    actions = ["publish_selected"]
    change_form_template = "admin/guidelines/guidelineversion/change_form.html"

    # ------------------------------------------------------------ list columns

    @admin.display(description="version", ordering="number")
    def version_label(self, obj: GuidelineVersion) -> str:
        return obj.label

    @admin.display(description="change summary")
    def short_summary(self, obj: GuidelineVersion) -> str:
        return (obj.change_summary[:80] + "…") if len(obj.change_summary) > 80 else obj.change_summary

    @admin.display(description="diff")
    def diff_link(self, obj: GuidelineVersion) -> str:
        if not obj.based_on_id:
            return "–"
        url = reverse("admin:guidelines_guidelineversion_diff", args=[obj.pk])
        return format_html('<a href="{}?against={}">vs {}</a>', url, obj.based_on_id, "previous")

    # ------------------------------------------------------------ read-only once published

    def get_inlines(self, request, obj):
        # Classes are chosen among the version's project's: the draft must exist (have a project) first.
        return self.inlines if obj is not None else []

    @admin.display(description="rendered")
    def rendered(self, obj: GuidelineVersion):
        """What annotators read: the published version's cached, sanitised HTML."""
        return format_html('<div class="markdown-preview guideline">{}</div>', version_html(obj))

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_published:
            return [*self.form.Meta.fields, "number", "published_by", "published_at", "based_on", "rendered"]
        if obj is not None:
            return ["project", "based_on"]
        return []

    def has_change_permission(self, request, obj=None):
        # A published version opens in the admin's view-only mode: no save, no inline edits.
        if obj is not None and obj.is_published:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_published:
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        # The bulk "delete selected" action must not touch published versions either.
        if any(o.is_published for o in objs):
            raise PermissionDenied("Published guideline versions cannot be deleted.")
        return super().get_deleted_objects(objs, request)

    def save_model(self, request, obj: GuidelineVersion, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    # ------------------------------------------------------------ publishing

    def response_change(self, request: HttpRequest, obj: GuidelineVersion) -> HttpResponse:
        if "_publish" in request.POST:
            self._publish(request, obj)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def response_add(
        self, request: HttpRequest, obj: GuidelineVersion, post_url_continue=None
    ) -> HttpResponse:
        if "_publish" in request.POST:
            self._publish(request, obj)
            return HttpResponseRedirect(reverse("admin:guidelines_guidelineversion_change", args=[obj.pk]))
        return super().response_add(request, obj, post_url_continue)

    def _publish(self, request: HttpRequest, obj: GuidelineVersion) -> GuidelineVersion | None:
        try:
            published = services.publish_version(obj, request.user)
        except DomainError as error:
            self.message_user(request, f"Not published — {page_message(error)}", messages.ERROR)
            return None
        self.message_user(
            request,
            f"Published {published.project} v{published.number}. Annotators acknowledge it before their next item.",
        )
        return published

    @admin.action(description="Publish selected drafts (oldest first)")
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[GuidelineVersion]) -> None:
        for version in queryset.filter(status=GuidelineVersion.Status.DRAFT).order_by("created_at"):
            self._publish(request, version)

    # ------------------------------------------------------------ extra pages

    def get_urls(self):
        extra = [
            path(
                "<int:pk>/diff/",
                self.admin_site.admin_view(self.diff_view),
                name="guidelines_guidelineversion_diff",
            ),
            path(
                "<int:pk>/new-draft/",
                self.admin_site.admin_view(self.new_draft_view),
                name="guidelines_guidelineversion_new_draft",
            ),
        ]
        return extra + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if version is not None:
            extra_context["project_versions"] = (
                GuidelineVersion.objects.filter(project_id=version.project_id)
                .select_related("published_by", "created_by")
                .order_by("-number", "-created_at")[:50]
            )
            extra_context["version"] = version
        return super().change_view(request, object_id, form_url, extra_context)

    def diff_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        versions = selectors.with_content(GuidelineVersion.objects.select_related("project"))
        new = get_object_or_404(versions, pk=pk)
        against = request.GET.get("against") or new.based_on_id
        choices = GuidelineVersion.objects.filter(project_id=new.project_id).order_by(
            "-number", "-created_at"
        )
        old = None
        if against and str(against).isdigit():
            old = get_object_or_404(versions, pk=int(against), project_id=new.project_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{new.project}: {old.label if old else '?'} → {new.label}",
            "old": old,
            "new": new,
            "choices": choices,
            "diffs": diff_versions(old, new) if old else [],
        }
        return TemplateResponse(request, "admin/guidelines/guidelineversion/diff.html", context)

    def new_draft_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:guidelines_guidelineversion_change", args=[pk]))
        if not self.has_add_permission(request):
            raise PermissionDenied
        version = get_object_or_404(GuidelineVersion, pk=pk)
        draft = services.start_draft_from(version, request.user)
        self.message_user(request, f"New draft started from {version.label}.")
        return HttpResponseRedirect(reverse("admin:guidelines_guidelineversion_change", args=[draft.pk]))


@admin.register(GuidelineAcknowledgement)
class GuidelineAcknowledgementAdmin(admin.ModelAdmin):
    """Who read which version, when: read-only, written by annotators acknowledging."""

    list_display = ["version", "user", "acknowledged_at"]
    list_filter = ["version__project"]
    list_select_related = ["version__project", "user"]
    search_fields = ["user__username"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
