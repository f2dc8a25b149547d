from django.apps import AppConfig


class GuidelinesConfig(AppConfig):
    name = "labelhub.guidelines"
    label = "guidelines"
    verbose_name = "Guidelines"
