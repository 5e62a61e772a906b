from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "netlearn.accounts"
    label = "accounts"
