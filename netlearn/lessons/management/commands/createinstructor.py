"""Create (or promote) an instructor: a staff account in the Instructors group, no superuser.

    python manage.py createinstructor alice            # asks for the password
    NETLEARN_INSTRUCTOR_PASSWORD=... python manage.py createinstructor alice --no-input
"""
from __future__ import annotations

import getpass
import os

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

GROUP = "Instructors"


class Command(BaseCommand):
    help = "Create an instructor account (staff, Instructors group) or promote an existing user."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="prefer NETLEARN_INSTRUCTOR_PASSWORD or the prompt (shell history)")
        parser.add_argument("--no-input", action="store_true", dest="no_input")

    def handle(self, *args, username: str, email: str, password: str | None, no_input: bool, **options) -> None:
        User = get_user_model()
        try:
            group = Group.objects.get(name=GROUP)
        except Group.DoesNotExist as exc:
            raise CommandError("The Instructors group is missing: run `python manage.py migrate` first.") from exc
        user = User.objects.filter(username=username).first()
        created = user is None
        password = password or os.environ.get("NETLEARN_INSTRUCTOR_PASSWORD")
        if created and not password:
            if no_input:
                raise CommandError("A new instructor needs a password: set NETLEARN_INSTRUCTOR_PASSWORD or --password.")
            password = self._ask_password()
        if user is None:
            user = User(username=username, email=email)
        if password:
            try:
                password_validation.validate_password(password, user)
            except ValidationError as exc:
                raise CommandError("Password rejected: " + " ".join(exc.messages)) from exc
            user.set_password(password)
        user.is_staff = True
        if email:
            user.email = email
        user.save()
        user.groups.add(group)
        verb = "Created" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} instructor {username!r}: log in at /admin/."))

    def _ask_password(self) -> str:
        for _ in range(3):
            first = getpass.getpass("Password: ")
            if first and first == getpass.getpass("Password (again): "):
                return first
            self.stderr.write("Passwords were empty or did not match.")
        raise CommandError("No password given.")
