from django.apps import AppConfig


class LessonsConfig(AppConfig):
    name = "netlearn.lessons"
    label = "lessons"
    verbose_name = "Lessons"

    def ready(self) -> None:
        from netlearn.core import anonymous, loopcache

        from . import content, services, signals  # noqa: F401 - signals connect on import

        content.register()
        anonymous.register(services.VISITOR_SESSION_KEY, services.visitor_key_new, services.visitor_new)
        loopcache.session_keys(services.read_ahead_keys)
