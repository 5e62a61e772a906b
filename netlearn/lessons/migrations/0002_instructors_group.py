"""The Instructors group: add, change, delete and view tracks, lessons, steps and glossary terms.

Nothing else (not users, not groups). The quizzes app adds its own permissions to this group in
its own migration. Permissions are normally created after all migrations (post_migrate), so
they are created here explicitly for this app first.
"""
from __future__ import annotations

from django.db import migrations

GROUP = "Instructors"
MODELS = ("track", "lesson", "step", "glossaryterm")
ACTIONS = ("add", "change", "delete", "view")


def create_group(apps, schema_editor) -> None:  # noqa: ANN001
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("lessons")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    codenames = [f"{action}_{model}" for model in MODELS for action in ACTIONS]
    perms = Permission.objects.filter(content_type__app_label="lessons", codename__in=codenames)
    group.permissions.add(*perms)


def remove_group(apps, schema_editor) -> None:  # noqa: ANN001
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("lessons", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_group, remove_group)]
