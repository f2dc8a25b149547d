from django.apps import AppConfig


class QueuesConfig(AppConfig):
    name = "labelhub.queues"
    label = "queues"
    verbose_name = "Queues"
