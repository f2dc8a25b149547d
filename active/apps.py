from django.apps import AppConfig


class ActiveConfig(AppConfig):
    name = "active"
    verbose_name = "Active learning"

    def ready(self) -> None:
        from active.receivers import start_round_on_new_labels
        from labelhub.projects.signals import annotation_submitted

        annotation_submitted.connect(
            start_round_on_new_labels, dispatch_uid="active-start-round-on-new-labels"
        )
