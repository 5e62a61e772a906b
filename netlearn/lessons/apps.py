from django.apps import AppConfig


class LessonsConfig(AppConfig):
    name = "netlearn.lessons"
    label = "lessons"
    verbose_name = "Lessons"

    def ready(self) -> None:
        from . import content, signals  # noqa: F401 - signals connect on import

        content.register()
