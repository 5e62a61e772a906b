"""A new learner's session made on the event loop (``netlearn.core.sessions``): in the cache at
once, its database row written after the answer (or, where progress is written behind, through the
sessions' journal, which a restarted worker recovers); a save that finds no row yet inserts it, except
for an account's session (Django's refusal to bring back a session logged out elsewhere stands).
The real database and the embedded local-memory cache."""
from __future__ import annotations

import logging

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.models import Session
from django.core.cache import caches

from netlearn.core import onloop, sessions
from netlearn.core.journal import WriteAheadJournal
from netlearn.core.sessions import SessionStore

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _local_cache(settings) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "session-made-on-loop"}}
    caches["default"].clear()


def made_on_loop(data: dict) -> tuple[SessionStore, list]:
    """A store saved as on the loop: the key made, the cache written, the row's write handed back."""
    store, run = made_on_loop_run(data)
    return store, run.after_answer


def made_on_loop_run(data: dict) -> tuple[SessionStore, onloop._Run]:
    """The same, with what the request's run on the loop was left with."""
    store = SessionStore()
    store.update(data)
    run, token = onloop.enter()
    try:
        store.save()
    finally:
        onloop.leave(token)
    return store, run


def test_made_on_the_loop_the_session_is_in_the_cache_at_once_and_in_the_database_after_the_answer() -> None:
    store, after_answer = made_on_loop({"netlearn_visitor": "v-1"})
    assert store.session_key and len(store.session_key) == 32
    assert not Session.objects.filter(session_key=store.session_key).exists()  # nothing written yet
    assert SessionStore(store.session_key).load() == {"netlearn_visitor": "v-1"}  # from the cache
    assert len(after_answer) == 1
    after_answer[0]()
    assert Session.objects.get(session_key=store.session_key).get_decoded() == {"netlearn_visitor": "v-1"}


def test_a_next_request_that_saves_before_the_row_is_written_inserts_it_and_the_late_write_keeps_it(caplog) -> None:
    store, after_answer = made_on_loop({"netlearn_visitor": "v-2"})
    later = SessionStore(store.session_key)
    later["netlearn_quiz"] = "q-2"  # the learner's next request (a thread) changes the session first
    later.save()
    with caplog.at_level(logging.INFO, "netlearn.sessions"):
        after_answer[0]()  # the loop's row, written late: the newer row stays
    assert Session.objects.get(session_key=store.session_key).get_decoded() == {
        "netlearn_visitor": "v-2", "netlearn_quiz": "q-2"}
    assert "had its row already" in caplog.text


def test_an_accounts_session_whose_row_is_gone_is_not_brought_back() -> None:
    """A log-out elsewhere deleted it: Django raises UpdateError (the middleware's SessionInterrupted)."""
    store = SessionStore()
    store[SESSION_KEY] = "1"
    store.create()
    Session.objects.filter(session_key=store.session_key).delete()
    store["more"] = "x"
    with pytest.raises(UpdateError):
        store.save()
    assert not Session.objects.filter(session_key=store.session_key).exists()



# -- where progress is written behind, the row goes through the sessions' journal ---------------
@pytest.fixture
def journalled(settings, monkeypatch, tmp_path) -> WriteAheadJournal:
    """The sessions' journal as a worker runs it (progress written behind), flushed by hand."""
    settings.NETLEARN_PROGRESS_WRITE_BEHIND = True
    journal = WriteAheadJournal(tmp_path / "session-journal", sessions._insert_rows, interval=3600, autostart=False)
    monkeypatch.setattr(sessions, "_journal", journal)
    return journal


def test_journalled_the_row_is_written_by_the_flush_and_the_cache_writes_go_first(journalled) -> None:
    store, run = made_on_loop_run({"netlearn_visitor": "v-3"})
    assert run.after_answer == [] and run.writes_first  # no thread after the answer; Redis before the answer
    assert [record[0] for record in journalled.pending()] == [store.session_key]
    assert not Session.objects.filter(session_key=store.session_key).exists()
    assert SessionStore(store.session_key).load() == {"netlearn_visitor": "v-3"}  # from the cache meanwhile
    journalled.flush()
    row = Session.objects.get(session_key=store.session_key)
    assert row.get_decoded() == {"netlearn_visitor": "v-3"}
    assert abs((row.expire_date - store.get_expiry_date()).total_seconds()) < 1


def test_journalled_a_next_request_that_saved_first_keeps_its_row_and_a_second_apply_changes_nothing(
        journalled) -> None:
    store, _ = made_on_loop_run({"netlearn_visitor": "v-4"})
    later = SessionStore(store.session_key)
    later["netlearn_quiz"] = "q-4"
    later.save()  # before the flush: inserts the row (the update found none)
    records = journalled.pending()
    journalled.flush()
    sessions._insert_rows(records)  # a segment applied twice (a crash between the write and the delete)
    assert Session.objects.get(session_key=store.session_key).get_decoded() == {
        "netlearn_visitor": "v-4", "netlearn_quiz": "q-4"}
    assert Session.objects.filter(session_key=store.session_key).count() == 1


def test_a_malformed_journal_record_is_skipped_and_the_rest_written(journalled, caplog) -> None:
    store, _ = made_on_loop_run({"netlearn_visitor": "v-5"})
    with caplog.at_level(logging.WARNING, "netlearn.sessions"):
        sessions._insert_rows([("torn",), *journalled.pending()])
    assert Session.objects.filter(session_key=store.session_key).exists()
    assert "malformed record" in caplog.text
