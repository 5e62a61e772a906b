from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "netlearn.core"
    label = "core"
