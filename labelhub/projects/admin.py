"""The admin console of the core domain: projects (with classes and members), items, imports.

The "Import file" page and "Create from Label Studio config" call the same services as the API
and the management command, so the console is one more thin front end, not a second importer.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import OuterRef
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from labelhub.projects import services
from labelhub.projects.importing import FILE_FORMAT_CHOICES, ImportRejected, import_file
from labelhub.projects.label_config import LabelConfigError, parse_label_config
from labelhub.projects.models import (
    Annotation,
    ImportBatch,
    Item,
    LabelClass,
    Project,
    ProjectMembership,
)
from labelhub.projects.selectors import correlated_count


class LabelClassForm(forms.ModelForm):
    """Compact inputs: the admin's defaults (20em text fields, a 40x10 textarea) made the class
    table of the project page about 2,000 px wide."""

    class Meta:
        model = LabelClass
        fields = ["order", "name", "key", "colour", "description"]
        widgets = {
            "order": forms.NumberInput(attrs={"style": "width:4em"}),
            "name": forms.TextInput(attrs={"size": 22}),
            "key": forms.TextInput(attrs={"size": 3}),
            "colour": forms.TextInput(attrs={"size": 8}),
            "description": forms.Textarea(attrs={"rows": 2, "cols": 44}),
        }


class LabelClassInline(admin.TabularInline):
    model = LabelClass
    form = LabelClassForm
    extra = 0
    fields = ["order", "name", "key", "colour", "description"]


class MembershipInline(admin.TabularInline):
    model = ProjectMembership
    formfield_overrides = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 36})}}
    extra = 0
    fields = ["user", "role", "is_paused", "paused_reason"]
    autocomplete_fields = ["user"]


class ImportFileForm(forms.Form):
    file = forms.FileField(help_text="JSONL, CSV (with a header row) or a Label Studio JSON export.")
    format = forms.ChoiceField(
        choices=[("", "Guess from the file name"), *FILE_FORMAT_CHOICES], required=False
    )


class FromLabelConfigForm(forms.Form):
    name = forms.CharField(max_length=200)
    label_config = forms.CharField(widget=forms.Textarea(attrs={"rows": 14, "cols": 90}))

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if Project.objects.filter(name=name).exists():
            raise forms.ValidationError(f"a project named {name!r} exists")
        return name

    def clean_label_config(self) -> str:
        xml = self.cleaned_data["label_config"]
        try:
            parse_label_config(xml)
        except LabelConfigError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return xml


#: The active-learning strategies a project may choose. The active app fills this in when it is
#: ready (it sits above this app, which may not import it); until then only "auto" is offered.
STRATEGY_CHOICES: list[tuple[str, str]] = []


def register_strategy_choices(names) -> None:
    STRATEGY_CHOICES[:] = [(name, name.replace("_", " ")) for name in names]


def _strategy_choices() -> list[tuple[str, str]]:
    return STRATEGY_CHOICES or [("auto", "auto")]


class ProjectAdminForm(forms.ModelForm):
    al_strategy = forms.ChoiceField(
        choices=_strategy_choices,
        label="AL strategy",
        initial="auto",
        help_text="How the model picks the next items to label; auto starts with typicality and "
        "moves to an uncertainty strategy once there are enough labels.",
    )

    class Meta:
        model = Project
        fields = ["al_strategy"]  # the admin adds the fieldsets' other fields


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectAdminForm
    list_display = ["name", "modality", "multi_label", "item_count", "class_count", "created_at"]
    list_filter = ["modality", "multi_label"]
    search_fields = ["name", "description"]
    inlines = [LabelClassInline, MembershipInline]
    actions = ["create_from_label_config"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        """A project created here is created by, and managed by, whoever created it: without a
        membership nobody (not even its creator, unless staff) would see it on the labeling side."""
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if not change:
            ProjectMembership.objects.get_or_create(
                project=obj, user=request.user, defaults={"role": ProjectMembership.Role.MANAGER}
            )

    def response_add(self, request, obj, post_url_continue=None):
        """A new project opens on its own page, where the set-up checklist says what comes next
        (members, items, guidelines, QA and balance); "Save and add another" still adds another."""
        response = super().response_add(request, obj, post_url_continue)
        if "_addanother" in request.POST or IS_POPUP_VAR in request.POST:
            return response
        return HttpResponseRedirect(reverse("admin:projects_project_change", args=[obj.pk]))

    fieldsets = [
        (None, {"fields": ["name", "description", "modality", "multi_label", "created_by", "created_at"]}),
        ("Label Studio config", {"classes": ["collapse"], "fields": ["label_config"]}),
        (
            "Queue",
            {"fields": ["lease_minutes", "overlap_fraction", "overlap_annotators", "balance_target"]},
        ),
        (
            "Quality assurance",
            {
                "fields": [
                    "gold_rate",
                    "qa_min_gold_accuracy",
                    "qa_min_agreement",
                    "qa_min_count",
                    "qa_pause_on_fail",
                    "qa_anonymous_adjudication",
                    "consensus_method",
                ]
            },
        ),
        ("Active learning", {"fields": ["al_strategy", "al_batch_size", "al_trigger_labels"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _item_count=correlated_count(Item.objects.filter(project=OuterRef("pk"))),
                _class_count=correlated_count(LabelClass.objects.filter(project=OuterRef("pk"))),
            )
        )

    @admin.display(description="items", ordering="_item_count")
    def item_count(self, project: Project) -> int:
        return project._item_count

    @admin.display(description="classes", ordering="_class_count")
    def class_count(self, project: Project) -> int:
        return project._class_count

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "from-label-config/",
                self.admin_site.admin_view(self.from_label_config_view),
                name="{}_{}_from_label_config".format(*info),
            ),
            path(
                "<int:project_id>/import/",
                self.admin_site.admin_view(self.import_view),
                name="{}_{}_import".format(*info),
            ),
        ] + super().get_urls()

    @admin.action(description="Create project from Label Studio config")
    def create_from_label_config(self, request, queryset):
        """Starts the form from the first selected project's config (blank when it has none)."""
        url = reverse("admin:projects_project_from_label_config")
        source = queryset.exclude(label_config="").first()
        return HttpResponseRedirect(f"{url}?from={source.pk}" if source else url)

    def from_label_config_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = FromLabelConfigForm(request.POST)
            if form.is_valid():
                project = services.create_project_from_label_config(
                    form.cleaned_data["name"], form.cleaned_data["label_config"], request.user
                )
                self.message_user(
                    request, f"Created {project} with {project.classes.count()} classes.", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:projects_project_change", args=[project.pk]))
        else:
            initial = {}
            source = Project.objects.filter(pk=request.GET.get("from") or 0).first()
            if source is not None:
                initial = {"name": f"{source.name} (copy)", "label_config": source.label_config}
            form = FromLabelConfigForm(initial=initial)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            "title": "Create a project from a Label Studio config",
        }
        return TemplateResponse(request, "admin/projects/project/from_label_config.html", context)

    def import_view(self, request: HttpRequest, project_id: int) -> HttpResponse:
        project = get_object_or_404(Project, pk=project_id)
        if not self.has_change_permission(request, project):
            raise PermissionDenied
        errors: list[dict] = []
        if request.method == "POST":
            form = ImportFileForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                try:
                    batch = import_file(
                        project,
                        upload,
                        form.cleaned_data["format"] or None,
                        user=request.user,
                        source="upload",
                        filename=upload.name,
                    )
                except ImportRejected as rejected:
                    errors = rejected.errors
                    self.message_user(request, rejected.message, messages.ERROR)
                else:
                    self.message_user(
                        request,
                        f"Imported {batch.imported_count} items ({batch.duplicate_count} duplicates skipped, "
                        f"{batch.annotation_count} annotations)."
                        + (f" Left out: {batch.left_out}." if batch.left_out else ""),
                        messages.WARNING if batch.warnings else messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:projects_importbatch_change", args=[batch.pk]))
        else:
            form = ImportFileForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": project,
            "form": form,
            "errors": errors,
            "title": f"Import items into {project}",
        }
        return TemplateResponse(request, "admin/projects/project/import_form.html", context)


@admin.register(LabelClass)
class LabelClassAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "key", "colour_swatch", "order"]
    list_filter = ["project"]
    search_fields = ["name", "description", "project__name"]
    list_select_related = ["project"]

    @admin.display(description="colour")
    def colour_swatch(self, label_class: LabelClass) -> str:
        return format_html(
            '<span style="display:inline-block;width:1em;height:1em;background:{}"></span> {}',
            label_class.colour,
            label_class.colour,
        )


@admin.register(ProjectMembership)
class ProjectMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "is_paused", "joined_at"]
    list_filter = ["role", "is_paused", "project"]
    search_fields = ["user__username", "project__name"]
    list_select_related = ["user", "project"]
    autocomplete_fields = ["user"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["external_id", "project", "content_preview", "import_batch", "created_at"]
    list_filter = ["project", "import_batch"]
    search_fields = ["external_id", "payload__text"]
    list_select_related = ["project", "import_batch"]
    raw_id_fields = ["import_batch"]
    readonly_fields = ["content_hash", "created_at"]
    show_full_result_count = False  # a COUNT(*) per search is slow on 100k+ item projects
    list_per_page = 50

    @admin.display(description="content")
    def content_preview(self, item: Item) -> str:
        image = item.payload.get("image")
        if isinstance(image, str):
            return format_html('<img src="{}" alt="" style="height:32px;image-rendering:pixelated">', image)
        text = str(item.payload.get("text", ""))
        return text if len(text) <= 80 else text[:79] + "…"


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    """Read-only: a batch is the record of what a file did."""

    list_display = [
        "id",
        "project",
        "filename",
        "format",
        "source",
        "status",
        "lines_read",
        "imported_count",
        "duplicate_count",
        "annotation_count",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "format", "source", "project"]
    search_fields = ["filename", "project__name"]
    list_select_related = ["project", "created_by"]
    exclude = ["errors"]
    readonly_fields = ["error_table"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.opts.fields if f.name != "errors"] + ["error_table"]

    @admin.display(description="errors")
    def error_table(self, batch: ImportBatch) -> str:
        if not batch.errors:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            ((e.get("line"), e.get("field"), e.get("detail")) for e in batch.errors),
        )
        return format_html("<table><tr><th>Line</th><th>Field</th><th>Problem</th></tr>{}</table>", rows)


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "annotator", "labels", "source", "time_spent", "created_at", "retracted_at"]
    list_filter = ["source", "item__project"]
    search_fields = ["item__external_id", "annotator__username"]
    list_select_related = ["item", "annotator"]
    raw_id_fields = ["item", "lease"]
    readonly_fields = ["created_at"]
