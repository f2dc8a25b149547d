from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "labelhub.projects"
    label = "projects"
    verbose_name = "Projects"
