from django.apps import AppConfig


class LessonsConfig(AppConfig):
    name = "netlearn.lessons"
    label = "lessons"
