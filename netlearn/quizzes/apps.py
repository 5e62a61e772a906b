from django.apps import AppConfig


class QuizzesConfig(AppConfig):
    name = "netlearn.quizzes"
    label = "quizzes"
