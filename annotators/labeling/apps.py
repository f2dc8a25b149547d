from django.apps import AppConfig


class LabelingConfig(AppConfig):
    """The annotation interface: the home page, the labeling page and its queue socket."""

    name = "annotators.labeling"
    label = "labeling"
    verbose_name = "Labeling pages"
