from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_createinstructor_makes_a_staff_member_of_instructors(client, django_user_model, monkeypatch) -> None:
    monkeypatch.setenv("NETLEARN_INSTRUCTOR_PASSWORD", "a-long-teacher-pass-42")
    call_command("createinstructor", "alice", "--no-input", stdout=StringIO())
    alice = django_user_model.objects.get(username="alice")
    assert alice.is_staff and not alice.is_superuser
    assert list(alice.groups.values_list("name", flat=True)) == ["Instructors"]
    assert client.login(username="alice", password="a-long-teacher-pass-42")
    assert client.get("/admin/lessons/lesson/").status_code == 200


def test_createinstructor_refuses_without_a_password(monkeypatch) -> None:
    monkeypatch.delenv("NETLEARN_INSTRUCTOR_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="needs a password"):
        call_command("createinstructor", "bob", "--no-input")
    with pytest.raises(CommandError, match="Password rejected"):
        call_command("createinstructor", "bob", "--password", "123")
