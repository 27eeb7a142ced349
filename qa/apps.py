from django.apps import AppConfig


class QaConfig(AppConfig):
    name = "qa"
    verbose_name = "Knowledge base"

    def ready(self):
        from qa import signals, tasks

        signals.connect()
        tasks.connect()
