"""Seed the fixed topic list and give the "Instructors" group the quiz permissions.

The lessons app's migration also creates "Instructors"; get_or_create makes the order of the two
migrations irrelevant. Permissions normally appear only after all migrations (post_migrate), so
they are created here explicitly for this app.
"""
from __future__ import annotations

from django.db import migrations

from netlearn.quizzes.topics import TOPICS

AUTHORING = ["topic", "question", "choice", "orderitem", "acceptedanswer", "checklistitem", "lessonlink",
             "quiz", "quizquestion"]
READ_ONLY = ["attempt", "reviewstate", "mockinterview"]


def forwards(apps, schema_editor):
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes

    Topic = apps.get_model("quizzes", "Topic")
    for slug, (en, ko) in TOPICS.items():
        Topic.objects.get_or_create(slug=slug, defaults={"name_en": en, "name_ko": ko})

    app_config = apps.get_app_config("quizzes")
    app_config.models_module = True
    create_contenttypes(app_config, verbosity=0, apps=apps)
    create_permissions(app_config, verbosity=0, apps=apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Instructors")
    codenames = [f"{action}_{model}" for model in AUTHORING for action in ("add", "change", "delete", "view")]
    codenames += [f"view_{model}" for model in READ_ONLY]
    group.permissions.add(*Permission.objects.filter(content_type__app_label="quizzes", codename__in=codenames))


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="Instructors").first()
    if group:
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="quizzes"))


class Migration(migrations.Migration):
    dependencies = [
        ("quizzes", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
