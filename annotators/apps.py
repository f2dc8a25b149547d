from django.apps import AppConfig


class AnnotatorsConfig(AppConfig):
    name = "annotators"
    verbose_name = "Annotators and QA"

    def ready(self) -> None:
        # QA reacts to submits and undos from the queues app: gold scoring, consensus, policies.
        from annotators.services import on_annotation_retracted, on_annotation_submitted
        from labelhub.queues.signals import annotation_retracted, annotation_submitted

        annotation_submitted.connect(on_annotation_submitted, dispatch_uid="annotators.qa.on_submitted")
        annotation_retracted.connect(on_annotation_retracted, dispatch_uid="annotators.qa.on_retracted")
