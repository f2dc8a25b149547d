"""Console pages of the queues: entries, leases, flags, and each project's queue and class balance."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from labelhub.queues import reactions, selectors, services
from labelhub.queues.models import ItemFlag, Lease, PendingReaction, ProjectQueue, QueueEntry
from labelhub.queues.sampling import balance_report


@admin.register(QueueEntry)
class QueueEntryAdmin(admin.ModelAdmin):
    list_display = (
        "item",
        "project",
        "priority",
        "reason",
        "required_annotations",
        "completed_annotations",
        "leased_count",
        "is_open",
        "created_at",
    )
    list_filter = ("is_open", "reason", "project")
    list_select_related = ("item", "project")
    search_fields = ("item__external_id", "batch_key")
    raw_id_fields = ("item", "created_by")
    readonly_fields = ("completed_annotations", "leased_count", "created_at")
    ordering = ("project", "-is_open", "-priority", "id")


@admin.register(Lease)
class LeaseAdmin(admin.ModelAdmin):
    list_display = ("id", "item", "annotator", "leased_at", "expires_at", "state")
    list_filter = ("release_reason", "entry__project")
    list_select_related = ("entry__item", "annotator")
    raw_id_fields = ("entry", "annotator")
    readonly_fields = ("leased_at", "released_at", "completed_at", "release_reason")
    actions = ("expire_now",)

    @admin.display(description="item")
    def item(self, lease: Lease):
        return lease.entry.item

    @admin.display(description="state")
    def state(self, lease: Lease) -> str:
        if lease.completed_at:
            return "submitted"
        if lease.released_at:
            return lease.get_release_reason_display()
        return "live"

    @admin.action(description="Expire leases past their deadline now (all projects)")
    def expire_now(self, request, queryset):
        expired = services.expire_leases()
        self.message_user(request, f"{len(expired)} lease(s) expired and returned to their queues.")


@admin.register(PendingReaction)
class PendingReactionAdmin(admin.ModelAdmin):
    """Submits whose QA / active-learning reactions have not run: normally none for long; a row
    with attempts shows a reaction that keeps failing, and why."""

    list_display = ("annotation", "project", "created_at", "attempts", "last_error")
    list_filter = ("project",)
    readonly_fields = ("annotation", "project", "created_at", "attempts", "last_error")
    actions = ("retry",)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Deliver the selected reactions again now")
    def retry(self, request, queryset):
        ids = list(queryset.values_list("annotation_id", flat=True))
        queryset.update(attempts=0)
        result = reactions.deliver(ids)
        level = messages.WARNING if result.failed else messages.SUCCESS
        self.message_user(request, f"Delivered {result.delivered}; {result.failed} failed again.", level)


@admin.register(ItemFlag)
class ItemFlagAdmin(admin.ModelAdmin):
    list_display = ("item", "annotator", "comment", "guideline_version", "created_at", "answered_at")
    list_filter = ("item__project", "answered_at")
    list_select_related = ("item", "annotator", "guideline_version")
    search_fields = ("comment", "item__external_id")
    raw_id_fields = ("item", "annotator", "guideline_version", "answered_in", "answered_by")


def balance_table(project) -> str:
    """Target vs achieved share per class, as a table with paired bars (target grey, achieved blue),
    and each class's quota in the next class-balanced fill."""
    report = balance_report(project, fill_size=services.DEFAULT_FILL_SIZE)

    def bar(share: float | None, colour: str) -> str:
        if share is None:
            return mark_safe('<span style="color:#999">no target</span>')  # noqa: S308 - a constant
        return format_html(
            '<span style="display:inline-block;height:10px;width:{}px;background:{}"></span> {}',
            round(share * 200),
            colour,
            f"{share:.1%}",
        )

    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                row["name"],
                row["count"],
                bar(row["target_share"], "#adb5bd"),
                bar(row["actual_share"], "#3b5bdb"),
                "–" if row["next_fill_quota"] is None else row["next_fill_quota"],
            )
            for row in report["classes"]
        ),
    )
    return format_html(
        "<table><tr><th>Class</th><th>Labels</th><th>Target share</th><th>Achieved share</th>"
        "<th>Quota in the next fill of {}</th></tr>{}</table>"
        "<p>{} labels in all{}.</p>",
        report["fill_size"],
        rows,
        report["labelled"],
        "" if report["target_set"] else "; no balance target set (edit the project's balance_target)",
    )


@admin.register(ProjectQueue)
class ProjectQueueAdmin(admin.ModelAdmin):
    """One row per project: its queue at a glance and target vs actual class balance."""

    list_display = ("name", "open_entries", "waiting", "live_leases", "balance_summary")
    fields = (
        "name",
        "balance_target",
        "overlap_fraction",
        "overlap_annotators",
        "lease_minutes",
        "queue",
        "balance",
    )
    readonly_fields = ("name", "queue", "balance")
    actions = ("fill",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("classes")

    def _counts(self, project) -> dict[str, int]:
        cache = getattr(self, "_count_cache", {})
        if project.pk not in cache:
            cache[project.pk] = selectors.queue_counts(project)
            self._count_cache = cache
        return cache[project.pk]

    @admin.display(description="open entries")
    def open_entries(self, project) -> int:
        return self._counts(project)["open_entries"]

    @admin.display(description="waiting slots")
    def waiting(self, project) -> int:
        return self._counts(project)["waiting"]

    @admin.display(description="live leases")
    def live_leases(self, project) -> int:
        return self._counts(project)["live_leases"]

    @admin.display(description="class balance (target → actual)")
    def balance_summary(self, project) -> str:
        report = balance_report(project)
        parts = [
            f"{row['name']}: {'—' if row['target_share'] is None else format(row['target_share'], '.0%')}"
            f" → {row['actual_share']:.0%}"
            for row in report["classes"]
        ]
        return ", ".join(parts)

    @admin.display(description="queue")
    def queue(self, project) -> str:
        counts = selectors.queue_counts(project)
        return format_html(
            "{} open entries, {} waiting annotator slots, {} live leases",
            counts["open_entries"],
            counts["waiting"],
            counts["live_leases"],
        )

    @admin.display(description="target vs actual per class")
    def balance(self, project) -> str:
        return balance_table(project)

    @admin.action(
        description=f"Fill the queue ({services.DEFAULT_FILL_SIZE} items, class-balanced when a target is set)"
    )
    def fill(self, request, queryset):
        for project in queryset:
            added = services.fill_queue(project, services.DEFAULT_FILL_SIZE, created_by=request.user)
            self.message_user(request, f"{project}: {added} item(s) queued.", messages.SUCCESS)
