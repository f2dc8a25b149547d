from django.apps import AppConfig


class QueuesConfig(AppConfig):
    name = "labelhub.queues"
    label = "queues"
    verbose_name = "Queues"

    def ready(self) -> None:
        # QA asks before it sends a dispute to adjudication whether more labels are on the way.
        from annotators.qa.signals import item_collecting_labels
        from labelhub.queues.receivers import item_still_queued

        item_collecting_labels.connect(item_still_queued, dispatch_uid="labelhub.queues.item_still_queued")
