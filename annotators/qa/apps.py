from django.apps import AppConfig


class QAConfig(AppConfig):
    """Quality assurance: gold, agreement, consensus, policies, adjudication.

    The label stays ``annotators`` (the app's name before the labeling pages moved out), so its
    tables, migrations and content types keep their names.
    """

    name = "annotators.qa"
    label = "annotators"
    verbose_name = "Annotators and QA"

    def ready(self) -> None:
        # QA reacts to submits and undos from the queues app: gold scoring, consensus, policies.
        from annotators.qa.services import on_annotation_retracted, on_annotation_submitted
        from labelhub.projects.signals import annotation_retracted, annotation_submitted

        annotation_submitted.connect(on_annotation_submitted, dispatch_uid="annotators.qa.on_submitted")
        annotation_retracted.connect(on_annotation_retracted, dispatch_uid="annotators.qa.on_retracted")
