from django.apps import AppConfig


class AnnotatorsConfig(AppConfig):
    name = "annotators"
    verbose_name = "Annotators and QA"

    def ready(self) -> None:
        # QA reacts to submits from the queues app: gold scoring, consensus, policies.
        from django.db.models.signals import post_save

        from annotators.services import on_annotation_saved, on_annotation_submitted
        from labelhub.projects.models import Annotation
        from labelhub.queues.signals import annotation_submitted

        annotation_submitted.connect(on_annotation_submitted, dispatch_uid="annotators.qa.on_submitted")
        # Undo (retraction) has no signal of its own: watch for the retracted_at update.
        post_save.connect(on_annotation_saved, sender=Annotation, dispatch_uid="annotators.qa.on_retracted")
