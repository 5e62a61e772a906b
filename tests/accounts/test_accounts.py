from __future__ import annotations

import re

from django.core import mail
from django.test import Client

from netlearn.quizzes.models import Attempt, ReviewState

PASSWORD = "a-long-Passphrase-42"


def answer_anonymously(client: Client, bank) -> None:
    html = client.get("/quizzes/q/tcp-first-segment/").content.decode()
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    choice = bank["tcp-first-segment"].choices.get(correct=True).pk
    client.post("/quizzes/q/tcp-first-segment/answer/", {"token": token, "choice": choice})


def test_sign_up_logs_in_and_merges_anonymous_progress(client, bank, django_user_model):
    answer_anonymously(client, bank)
    assert Attempt.objects.filter(user__isnull=True).count() == 1
    response = client.post("/accounts/signup/", {"username": "jisoo", "email": "",
                                                 "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/accounts/progress/"
    user = django_user_model.objects.get(username="jisoo")
    assert Attempt.objects.get().user == user
    assert ReviewState.objects.get().user == user
    assert "Which segment opens" in client.get("/accounts/progress/").content.decode()


def test_log_in_merges_anonymous_progress(client, bank, django_user_model):
    user = django_user_model.objects.create_user("minho", password=PASSWORD)
    answer_anonymously(client, bank)
    response = client.post("/accounts/login/", {"username": "minho", "password": PASSWORD})
    assert response.status_code == 302
    assert Attempt.objects.get().user == user


def test_log_out_is_a_post(client, django_user_model):
    django_user_model.objects.create_user("minho", password=PASSWORD)
    client.login(username="minho", password=PASSWORD)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in client.session


def test_sign_up_shows_errors(client, db):
    html = client.post("/accounts/signup/", {"username": "x", "password1": "1", "password2": "2"}).content.decode()
    assert "field-errors" in html


def test_password_change(client, django_user_model):
    user = django_user_model.objects.create_user("minho", password=PASSWORD)
    client.force_login(user)
    new = "another-Long-passphrase-7"
    response = client.post("/accounts/password/change/", {"old_password": PASSWORD, "new_password1": new,
                                                          "new_password2": new})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new)


def test_password_reset_by_console_email(client, django_user_model):
    user = django_user_model.objects.create_user("minho", email="minho@example.com", password=PASSWORD)
    client.post("/accounts/password/reset/", {"email": "minho@example.com"})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    new = "reset-Long-passphrase-9"
    client.post(form_url, {"new_password1": new, "new_password2": new})
    user.refresh_from_db()
    assert user.check_password(new)


def test_progress_has_chart_and_mastery(client, bank):
    answer_anonymously(client, bank)
    html = client.get("/accounts/progress/").content.decode()
    assert '<svg viewBox="0 0 720 220"' in html and 'class="bar-correct"' in html
    assert "Sign up to keep it" in html
    assert "20% · 1 of 5 answered" in html  # TCP: one of its five questions


def test_login_page_links_sign_up_and_reset(client, db):
    html = client.get("/accounts/login/").content.decode()
    assert "/accounts/signup/" in html and "/accounts/password/reset/" in html and "csrfmiddlewaretoken" in html


def test_sessions_are_read_from_the_cache_and_the_database_stays_the_truth(client, django_user_model, settings):
    """README: sessions use `cached_db`, read from the cache (per process, room for 50,000 entries,
    or Redis) and written through to the database: losing the cache signs nobody out."""
    from django.contrib.sessions.models import Session
    from django.core.cache import cache

    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.cached_db"
    if "locmem" in settings.CACHES["default"]["BACKEND"].lower():
        assert settings.CACHES["default"]["OPTIONS"]["MAX_ENTRIES"] == 50_000
    django_user_model.objects.create_user("samwise-cached", password=PASSWORD)
    assert client.post("/accounts/login/", {"username": "samwise-cached", "password": PASSWORD}).status_code == 302
    key = client.cookies["sessionid"].value
    assert Session.objects.filter(session_key=key).exists()  # written through
    cache.clear()  # the cache is a copy: a restarted Redis or worker loses nothing
    page = client.get("/accounts/progress/")
    assert page.status_code == 200 and "samwise-cached" in page.content.decode()
