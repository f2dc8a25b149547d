from django.apps import AppConfig


class WeakConfig(AppConfig):
    name = "labelhub.weak"
    label = "weak"
    verbose_name = "Weak supervision"
