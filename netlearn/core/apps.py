from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "netlearn.core"
    label = "core"

    def ready(self) -> None:
        from netlearn.core import csrf

        csrf.install()  # one urandom call per CSRF mask (netlearn/core/csrf.py)
