from django.apps import AppConfig


class WalksConfig(AppConfig):
    name = "netlearn.walks"
    label = "walks"
