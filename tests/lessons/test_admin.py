"""Instructor admin: who may enter, what instructors can do, inline reorder, live preview."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from netlearn.lessons.models import Lesson, Step

pytestmark = pytest.mark.django_db


def test_instructors_group_has_exactly_the_content_permissions() -> None:
    perms = set(Group.objects.get(name="Instructors").permissions.filter(content_type__app_label="lessons")
                .values_list("codename", flat=True))
    expected = {f"{a}_{m}" for m in ("track", "lesson", "step", "glossaryterm")
                for a in ("add", "change", "delete", "view")}
    assert perms == expected
    others = Group.objects.get(name="Instructors").permissions.filter(content_type__app_label="auth")
    assert not others.exists()


def test_anonymous_is_sent_to_login(client) -> None:
    response = client.get("/admin/lessons/lesson/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_learner_cannot_enter_admin(client, learner) -> None:
    client.force_login(learner)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client.post("/lessons/_preview/", {"body_en": "x"}).status_code == 302


def test_instructor_can_edit_content_but_not_users(client, content, instructor) -> None:
    client.force_login(instructor)
    assert client.get("/admin/lessons/lesson/").status_code == 200
    lesson = Lesson.objects.get(slug="sample-lesson")
    page = client.get(f"/admin/lessons/lesson/{lesson.pk}/change/").content.decode()
    assert 'hx-post="/lessons/_preview/?field=steps-2-body_ko"' in page
    assert 'hx-params="steps-2-body_ko"' in page
    assert "md-preview" in page
    assert "/admin/r/" in page  # "view on site" for the lesson and its steps
    assert client.get("/admin/auth/user/").status_code == 403
    assert client.get("/admin/auth/group/").status_code == 403


def _inline_post(lesson: Lesson, numbers: dict[int, int]) -> dict[str, str]:
    data = {
        "slug": lesson.slug, "track": str(lesson.track_id), "order": str(lesson.order), "published": "on",
        "title_en": lesson.title_en, "title_ko": lesson.title_ko,
        "summary_en": lesson.summary_en, "summary_ko": lesson.summary_ko,
    }
    steps = list(lesson.steps.order_by("number"))
    data.update({"steps-TOTAL_FORMS": str(len(steps)), "steps-INITIAL_FORMS": str(len(steps)),
                 "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "1000"})
    for i, step in enumerate(steps):
        prefix = f"steps-{i}-"
        data.update({
            prefix + "id": str(step.pk), prefix + "lesson": str(lesson.pk),
            prefix + "number": str(numbers.get(step.number, step.number)),
            prefix + "title_en": step.title_en, prefix + "title_ko": step.title_ko,
            prefix + "body_en": step.body_en, prefix + "body_ko": step.body_ko, prefix + "lab_action": "null",
        })
        for n in step.layers:
            data.setdefault(prefix + "layers", [])
            data[prefix + "layers"].append(str(n))  # type: ignore[union-attr]
        data[prefix + "lit_nodes"] = step.lit_nodes  # type: ignore[assignment]
        data[prefix + "lit_links"] = step.lit_links  # type: ignore[assignment]
    return data


def test_instructor_reorders_steps_inline(client, content, instructor) -> None:
    client.force_login(instructor)
    lesson = Lesson.objects.get(slug="sample-lesson")
    titles = {s.number: s.title_en for s in lesson.steps.all()}
    response = client.post(f"/admin/lessons/lesson/{lesson.pk}/change/", _inline_post(lesson, {1: 3, 3: 1}))
    assert response.status_code == 302, response.content.decode()[:3000]
    after = {s.number: s.title_en for s in Step.objects.filter(lesson=lesson)}
    assert after == {1: titles[3], 2: titles[2], 3: titles[1]}


def test_instructor_publishes_with_an_action(client, content, instructor) -> None:
    client.force_login(instructor)
    draft = Lesson.objects.get(slug="draft-lesson")
    client.post("/admin/lessons/lesson/", {"action": "publish", "_selected_action": [draft.pk]})
    draft.refresh_from_db()
    assert draft.published


def test_preview_renders_like_the_lesson_page(client, content, instructor) -> None:
    client.force_login(instructor)
    response = client.post("/lessons/_preview/", {"steps-0-body_ko": "**굵게** [[VIP]] <script>x</script>"})
    html = response.content.decode()
    assert response.status_code == 200 and 'lang="ko"' in html
    assert "<strong>굵게</strong>" in html and 'href="/glossary/VIP/"' in html and "<script>" not in html


def test_preview_renders_exactly_the_named_field_in_its_language(client, content, instructor) -> None:
    """The whole inline form arrives (as htmx sent it before): only ?field= decides what is shown."""
    client.force_login(instructor)
    form = {"steps-0-body_en": "step one english", "steps-0-body_ko": "첫 단계",
            "steps-2-body_en": "step three english", "steps-2-body_ko": "**세 번째** 단계"}
    response = client.post("/lessons/_preview/?field=steps-2-body_ko", form)
    html = response.content.decode()
    assert response.status_code == 200 and 'lang="ko"' in html
    assert "<strong>세 번째</strong>" in html and "step one" not in html and "첫 단계" not in html
    english = client.post("/lessons/_preview/?field=steps-2-body_en", form).content.decode()
    assert 'lang="en"' in english and "step three english" in english and "세 번째" not in english


def test_preview_refuses_to_guess_between_fields(client, content, instructor) -> None:
    client.force_login(instructor)
    both = {"steps-0-body_en": "a", "steps-0-body_ko": "b"}
    assert client.post("/lessons/_preview/", both).status_code == 400
    assert client.post("/lessons/_preview/?field=steps-0-title_en", both).status_code == 400
    assert client.post("/lessons/_preview/?field=steps-5-body_en", both).status_code == 400
