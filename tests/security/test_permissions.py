"""Every URL × anonymous, learner, instructor, superuser → the expected status.

The URL list comes from the resolver, so a new page is covered the day it is added: a pattern
this test cannot fill in (an unknown converter or argument) fails the test instead of being
skipped silently. Expectations are rules, most specific first; a page that matches no rule is
a public page (200 for everyone).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "learner", "instructor", "superuser")
SAMPLE = Path(__file__).resolve().parents[1] / "lessons" / "sample_content.json"

#: (url-name regex, {role: status}); the first matching rule wins. 302 = sent to a login page.
ANY_STAFF = {200, 302, 403}  # admin object pages: a read-only model (403), no such row (302 to the list)

RULES: list[tuple[str, dict[str, int | set[int]]]] = [
    # Django's admin: staff only; instructors manage content, never accounts or login logs.
    (r"^admin:(login)$", {"anonymous": 200, "learner": 200, "instructor": 302, "superuser": 302}),
    (r"^admin:logout$", {"anonymous": 302, "learner": 302, "instructor": 405, "superuser": 405}),
    (r"^admin:(auth|axes)_.*changelist$", {"anonymous": 302, "learner": 302, "instructor": 403, "superuser": 200}),
    (r"^admin:(auth|axes)_", {"anonymous": 302, "learner": 302, "instructor": {403, 302}, "superuser": ANY_STAFF}),
    (r"^admin:.*_(add|change|delete|history|password_change)$|^admin:autocomplete$",
     {"anonymous": 302, "learner": 302, "instructor": ANY_STAFF, "superuser": ANY_STAFF}),
    (r"^admin:", {"anonymous": 302, "learner": 302, "instructor": 200, "superuser": 200}),
    # Staff-only Markdown preview (POST): others are sent to log in.
    (r"^lessons:preview$", {"anonymous": 302, "learner": 302, "instructor": 405, "superuser": 405}),
    # Accounts.
    (r"^accounts:(password_change|password_change_done)$",
     {"anonymous": 302, "learner": 200, "instructor": 200, "superuser": 200}),
    (r"^accounts:(signup|login)$", {"anonymous": 200, "learner": 302, "instructor": 302, "superuser": 302}),
    (r"^accounts:logout$", {"anonymous": 405, "learner": 405, "instructor": 405, "superuser": 405}),
    # POST-only actions answered with 405 to a GET (the language switch redirects instead).
    (r"^set_language$", {"anonymous": 302, "learner": 302, "instructor": 302, "superuser": 302}),
    (r"^quizzes:(answer|reveal|mock_start|mock_answer|mock_pass|mock_finish)$|^walks:try$", {}),
    # A mock interview belongs to its learner: anybody else gets 404.
    (r"^quizzes:mock$", {"anonymous": 404, "learner": 404, "instructor": 404, "superuser": 404}),
    # Live classroom: a session's console and report are its owner's alone (someone else owns this one).
    (r"^classroom:(console|report|report_csv)$",
     {"anonymous": 302, "learner": 403, "instructor": 404, "superuser": 404}),
    (r"^classroom:teach$", {"anonymous": 302, "learner": 403, "instructor": 200, "superuser": 200}),
    (r"^classroom:live$", {"anonymous": 302, "learner": 302, "instructor": 302, "superuser": 302}),  # join first
    # A comparison is fetched by the token its POST answered; an unknown token is 404 for anybody.
    (r"^walks:compare_result$", {"anonymous": 404, "learner": 404, "instructor": 404, "superuser": 404}),
    # The stored walk has no step 0 to inspect.
    (r"^walks:step$", {"anonymous": 404, "learner": 404, "instructor": 404, "superuser": 404}),
    # A walk's pcapng is only for the learner who walked it (the sample walk is nobody's, and has no frames).
    (r"^walks:pcap$", {"anonymous": 404, "learner": 404, "instructor": 404, "superuser": 404}),
    # The packet view of a walk without frames (the sample walk) is not there; /favicon.ico points at the SVG.
    (r"^walks:packets$", {"anonymous": 404, "learner": 404, "instructor": 404, "superuser": 404}),
    (r"^favicon$", {"anonymous": 301, "learner": 301, "instructor": 301, "superuser": 301}),
]


def _patterns(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, Any]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name}" if entry.name else f"{namespace}?", prefix + str(entry.pattern), entry


@pytest.fixture
def world(db, django_user_model, client) -> dict[str, Any]:
    """One of everything a URL can point at, and one user per role."""
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from netlearn.classroom.models import LiveSession
    from netlearn.core.content import import_document
    from netlearn.lessons.models import GlossaryTerm, Lesson, Step
    from netlearn.quizzes.models import MockInterview, Question, Quiz, Topic
    from netlearn.walks.models import Walk
    from tests.quizzes.conftest import BANK

    import_document(json.loads(SAMPLE.read_text(encoding="utf-8")), mode="replace")
    import_document(BANK, mode="merge")
    users = {
        "learner": django_user_model.objects.create_user("learner", password="pw-learner-123"),
        "instructor": django_user_model.objects.create_user("teacher", password="pw-teacher-123", is_staff=True),
        "superuser": django_user_model.objects.create_superuser("root", password="pw-root-123"),
    }
    users["instructor"].groups.add(Group.objects.get(name="Instructors"))
    owner = django_user_model.objects.create_user("someone-else", password="pw-else-12345")
    step = Step.objects.select_related("lesson").first()
    walk = Walk.objects.create(url="http://shop.netlearn.test/", status=Walk.Status.DONE, events=[],
                               detail={"topology": {}})
    question = Question.objects.first()
    mock = MockInterview.objects.create(user=owner) if hasattr(MockInterview, "user") else None
    live = LiveSession.objects.create(code="K7QM2X", owner=owner, expires_at=timezone.now() + timedelta(hours=1))
    return {
        "users": users,
        "values": {
            "slug": step.lesson.slug, "number": step.number, "term": GlossaryTerm.objects.first().term,
            "key": question.key, "question_pk": question.pk, "walk_id": walk.id, "seq": 0, "step_id": step.pk,
            "pk": mock.pk if mock else 1, "quiz": Quiz.objects.first(), "topic": Topic.objects.get(slug="tcp"),
            "uidb64": "MQ", "token": "set-password", "lesson": Lesson.objects.first(),
            "code": live.code,
        },
    }


def _url(name: str, route: str, pattern: URLPattern, world: dict[str, Any]) -> str:
    """Fill the route's arguments from the world; admin object ids with a real object of its model."""
    values = world["values"]

    def fill(match: re.Match) -> str:
        arg = match.group(1).split(":")[-1]
        if name.startswith("quizzes:quiz") and arg == "slug":
            return values["quiz"].slug if values["quiz"] else "none"
        if name.startswith("quizzes:topic") and arg == "slug":
            return values["topic"].slug
        if name == "admin:quizzes_question_preview":
            return str(values["question_pk"])
        if arg in ("object_id", "id"):
            return str(_admin_object_id(name))
        if arg == "content_type_id":
            raise KeyError(arg)
        return str(values[arg])

    route = route.replace("^", "").replace("$", "")
    if "(?P<" in route:  # a regex route (the admin's app index and catch-all)
        if "app_label" in route:
            return "/" + route.split("^")[0].split("(?P")[0] + "lessons/"
        raise KeyError(route)
    return "/" + re.sub(r"<([^>]+)>", fill, route)


def _admin_object_id(name: str) -> int:
    from django.apps import apps
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    match = re.match(r"admin:(\w+?)_(\w+?)_(change|delete|history|password_change)$", name)
    if name == "admin:auth_user_password_change" or (match and match.group(2) == "user"):
        return get_user_model().objects.order_by("pk").first().pk
    if match and match.group(2) == "group":
        return Group.objects.first().pk
    if match:
        model = apps.get_model(match.group(1), match.group(2))
        obj = model.objects.order_by("pk").first()
        return obj.pk if obj else 1
    return 1


def _expected(name: str, role: str) -> set[int]:
    for pattern, statuses in RULES:
        if re.search(pattern, name):
            want = statuses.get(role, 405 if not statuses else 200)
            return want if isinstance(want, set) else {want}
    return {200}


#: Patterns with no page of their own to GET (redirect helpers and catch-alls).
NOT_PAGES = {"admin:view_on_site", "admin:?", "admin:None"}


@pytest.mark.parametrize("role", ROLES)
def test_every_url_answers_each_role_as_expected(world, client, role):
    if role != "anonymous":
        client.force_login(world["users"][role])
    mismatches, covered = [], 0
    for name, route, pattern in _patterns(get_resolver()):
        if name in NOT_PAGES:
            continue
        try:
            url = _url(name, route, pattern, world)
        except KeyError as missing:
            mismatches.append(f"{name} {route}: cannot fill {missing} — teach this test the new argument")
            continue
        status = client.get(url).status_code
        covered += 1
        want = _expected(name, role)
        if status not in want:
            mismatches.append(f"{role:10} {url:60} {name:45} got {status}, want {want}")
    assert covered > 60
    assert mismatches == [], "\n".join(mismatches)
