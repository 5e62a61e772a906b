from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WalksConfig(AppConfig):
    name = "netlearn.walks"
    label = "walks"
    verbose_name = _("Walks")

    def ready(self) -> None:
        from netlearn.core import health
        from netlearn.walks import finisher

        health.report("finisher", finisher.describe)
