"""Pages: full page and htmx fragment, progress, drafts, 404s, glossary, search, languages."""
from __future__ import annotations

import pytest

from netlearn.lessons.models import Step, StepView
from netlearn.lessons.selectors import step_url

pytestmark = pytest.mark.django_db
STEP2 = "/lessons/sample-lesson/2/"


def test_home_lists_tracks_lessons_and_progress(client, content) -> None:
    client.get("/lessons/sample-lesson/1/")
    html = client.get("/").content.decode()
    assert "The request path" in html and "Sample lesson" in html
    assert "1 of 3 steps seen" in html
    assert "Draft lesson" not in html
    assert 'href="/lessons/sample-lesson/2/"' in html  # "continue" points at the first unseen step


def test_step_full_page_has_layout_diagram_and_nav(client, content) -> None:
    response = client.get(STEP2)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert 'id="step-panel"' in html and "Resolve the name" in html
    assert 'id="node-resolver" class="topo-node kind-dns lit"' in html
    assert 'class="topo-link lit" d=' in html and 'id="link-client-resolver"' in html
    assert 'rel="next" href="/lessons/sample-lesson/3/"' in html and 'hx-push-url="true"' in html
    assert 'rel="prev" href="/lessons/sample-lesson/1/"' in html
    assert '<span class="kd">public</span>' in html  # highlighted Java
    assert "Try it in the lab" in html  # the step's lab action
    assert 'aria-current="step"' in html


def test_step_htmx_request_gets_only_the_panel(client, content) -> None:
    html = client.get(STEP2, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html and "site-header" not in html
    assert html.lstrip().startswith("<title>Resolve the name")
    assert 'data-lit-nodes="client resolver root"' in html and 'data-layers="7 4"' in html


def test_viewing_a_step_records_progress_for_anonymous_and_users(client, content, learner) -> None:
    client.get(STEP2)
    step = Step.objects.get(lesson__slug="sample-lesson", number=2)
    view = StepView.objects.get(step=step)
    assert view.user is None and view.visitor
    client.get(STEP2)
    assert StepView.objects.filter(step=step).count() == 1
    client.force_login(learner)  # log-in moves the anonymous progress to the account
    view.refresh_from_db()
    assert view.user == learner and view.visitor == ""


def test_unknown_lesson_and_step_give_friendly_404(client, content) -> None:
    for url in ("/lessons/nope/", "/lessons/nope/1/", "/lessons/sample-lesson/99/", "/lessons/sample-lesson/0/",
                "/glossary/NOPE/"):
        response = client.get(url)
        assert response.status_code == 404
        assert "This page took a wrong turn" in response.content.decode()


def test_404_speaks_korean(client, content) -> None:
    response = client.get("/lessons/sample-lesson/99/", HTTP_ACCEPT_LANGUAGE="ko")
    assert response.status_code == 404 and "길을 잘못 든 페이지입니다" in response.content.decode()


def test_unpublished_lesson_is_hidden_from_learners(client, content, learner) -> None:
    assert client.get("/lessons/draft-lesson/").status_code == 404
    client.force_login(learner)
    assert client.get("/lessons/draft-lesson/1/").status_code == 404


def test_unpublished_lesson_is_shown_to_instructors_with_a_banner(client, content, instructor) -> None:
    client.force_login(instructor)
    response = client.get("/lessons/draft-lesson/1/")
    assert response.status_code == 200
    assert "Draft: this lesson is not published" in response.content.decode()
    assert "Draft lesson" in client.get("/").content.decode()


def test_accept_language_picks_korean_content_and_interface(client, content) -> None:
    html = client.get(STEP2, HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9").content.decode()
    assert '<html lang="ko">' in html
    assert "이름 풀이" in html and "리졸버가 루트부터" in html
    assert "3단계 중 2단계" in html and "다음" in html and "백엔드 1" in html


def test_language_switcher_sets_the_language(client, content) -> None:
    client.get("/")  # CSRF cookie
    response = client.post("/i18n/setlang/", {"language": "ko", "next": STEP2})
    assert response.status_code == 302 and response["Location"] == STEP2
    assert "이름 풀이" in client.get(STEP2).content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "Resolve the name" in client.get(STEP2).content.decode()


def test_glossary_links_from_steps_lead_to_terms(client, content) -> None:
    html = client.get("/lessons/sample-lesson/3/").content.decode()
    assert '<a class="term" href="/glossary/VIP/"' in html
    term = client.get("/glossary/VIP/").content.decode()
    assert "Virtual IP (VIP)" in term and "<strong>balancer</strong>" in term
    assert 'href="/lessons/sample-lesson/3/"' in term  # "where the lessons use it"
    assert "Domain Name System" in client.get("/glossary/").content.decode()


def test_search_finds_lessons_steps_and_terms_in_both_languages(client, content) -> None:
    html = client.get("/search/", {"q": "resolver"}).content.decode()
    assert "Resolve the name" in html
    html = client.get("/search/", {"q": "가상"}).content.decode()
    assert "/glossary/VIP/" in html
    html = client.get("/search/", {"q": "예제"}).content.decode()
    assert "/lessons/sample-lesson/" in html
    fragment = client.get("/search/", {"q": "VIP"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and "/glossary/VIP/" in fragment


def test_search_does_not_leak_drafts(client, content) -> None:
    assert "draft-lesson" not in client.get("/search/", {"q": "Draft"}).content.decode()


def test_step_url_selector() -> None:
    assert step_url("tcp-and-udp", 2) == "/lessons/tcp-and-udp/2/"


def test_lesson_intro_and_listing(client, content) -> None:
    html = client.get("/lessons/sample-lesson/").content.decode()
    assert "A lesson for tests." in html and 'rel="next" href="/lessons/sample-lesson/1/"' in html
    assert "Sample lesson" in client.get("/lessons/").content.decode()


def test_healthz_still_answers(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_forms_carry_csrf(client, content) -> None:
    html = client.get("/").content.decode()
    assert 'name="csrfmiddlewaretoken"' in html  # the language switcher
