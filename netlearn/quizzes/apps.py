from __future__ import annotations

from django.apps import AppConfig


class QuizzesConfig(AppConfig):
    name = "netlearn.quizzes"
    label = "quizzes"
    verbose_name = "Quizzes and review"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from netlearn.core.content import register_section

        from .content import QuestionsSection, QuizzesSection
        from .signals import merge_on_login

        register_section(QuestionsSection())
        register_section(QuizzesSection())
        # Log in and sign up both end in auth.login(), which sends this signal.
        user_logged_in.connect(merge_on_login, dispatch_uid="quizzes.merge_on_login")
        from .signals import connect_content_version

        connect_content_version()

        from netlearn.core import anonymous

        from .learner import SESSION_KEY, new_anon_id

        anonymous.register(SESSION_KEY, new_anon_id)
