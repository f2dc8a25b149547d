from django.apps import AppConfig


class QueuesConfig(AppConfig):
    name = "labelhub.queues"
    label = "queues"
    verbose_name = "Queues"

    def ready(self) -> None:
        from annotators.qa.signals import annotator_paused, item_collecting_labels
        from labelhub.projects import signals as project_signals
        from labelhub.queues import receivers

        # QA asks before it sends a dispute to adjudication whether more labels are on the way.
        item_collecting_labels.connect(
            receivers.item_still_queued, dispatch_uid="labelhub.queues.item_still_queued"
        )
        # A pause takes the leases the member holds back, not only the next ones.
        annotator_paused.connect(
            receivers.release_paused_annotators_leases,
            dispatch_uid="labelhub.queues.release_paused_annotators_leases",
        )
        # New items end a project's "nothing left to fill from".
        project_signals.items_imported.connect(
            receivers.items_imported, dispatch_uid="labelhub.queues.items_imported"
        )
