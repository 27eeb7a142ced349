from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "ragsite.jobs"
    verbose_name = "Background jobs"
