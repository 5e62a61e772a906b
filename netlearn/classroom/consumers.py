"""The live session's WebSocket, one per screen: the instructor's console or a participant's page.

Thin: every rule is in ``services``; this module decides who is on the other end (the session's
owner, or the participant whose secret token is in *their* Django session: nothing the page sends
names a participant), forwards stage changes, and debounces the console's live panels.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from . import rendering, selectors, services
from .batching import batcher
from .hub import HUB
from .models import LiveAnswer, LiveSession, Participant, QuestionRun
from .rules import ClassroomError

log = logging.getLogger("netlearn.classroom")

#: The console redraws its live panels at most this often, however fast answers arrive.
PANEL_INTERVAL = 0.3
MAX_MESSAGE = 16_384
SESSION_KEY = "classroom:{code}"
INSTRUCTOR_ACTIONS = {"push_step", "start_walk", "compare", "open_question", "close_question", "reveal", "free",
                      "call_back", "rename", "remove", "end"}
CLOSE_REFUSED = 4403
CLOSE_NOT_FOUND = 4404


class ClassroomConsumer(AsyncWebsocketConsumer):
    session_id: int | None = None
    participant: Participant | None = None
    teaching = False

    async def connect(self) -> None:
        code = str(self.scope["url_route"]["kwargs"]["code"])
        query = parse_qs(self.scope.get("query_string", b"").decode())
        lang = (query.get("lang") or [settings.LANGUAGE_CODE])[0]
        self.lang = lang if lang in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        self.version = -1
        self.mine: dict[str, Any] | None = None
        self._pending: dict[str, asyncio.Task] = {}
        await self.accept()
        try:
            session = await database_sync_to_async(services.session_for_code)(code)
        except ClassroomError as exc:
            return await self._refuse(str(exc), CLOSE_NOT_FOUND)
        self.session_id, self.code = session.pk, session.code
        self.group, self.teach_group = session.group, session.teach_group
        user = self.scope.get("user")
        if (query.get("role") or [""])[0] == "teach":
            if user is None or not user.is_authenticated or user.pk != session.owner_id:
                return await self._refuse(_("Only the session's instructor can open its console."), CLOSE_REFUSED)
            self.teaching = True
            await self.channel_layer.group_add(self.teach_group, self.channel_name)
            await self._take_control()
        else:
            token = (self.scope.get("session") or {}).get(SESSION_KEY.format(code=session.code), "")
            self.participant = await database_sync_to_async(services.participant_for_token)(session=session,
                                                                                            token=token)
            if self.participant is None:
                return await self._refuse(_("Join the session first (at /join/)."), CLOSE_REFUSED)
            await self.channel_layer.group_add(self._personal_group, self.channel_name)
            self.mine = await self._load_mine(session)
        self.stage = _brief(session.stage)
        await HUB.join(self.channel_layer, self.group, self)
        self.joined = True
        await self._send_stage(session.stage_version)
        if self.teaching:
            self._watch_room()

    @property
    def _personal_group(self) -> str:
        assert self.participant is not None  # only participants' sockets have a personal group
        return f"{self.group}.p.{self.participant.pk}"

    async def _refuse(self, message: str, code: int) -> None:
        await self.send(text_data=rendering.fragment("classroom/_notice.html", {"message": message, "fatal": True},
                                                     lang=self.lang))
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        for task in self._pending.values():
            task.cancel()
        if self.session_id is None:
            return
        if getattr(self, "joined", False):
            await HUB.leave(self.group, self)
        for group in (self.teach_group,) + ((self._personal_group,) if self.participant else ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    # --- from the page ------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.session_id is None or not text_data or len(text_data) > MAX_MESSAGE:
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        action = str(message.get("action", ""))
        try:
            if action == "answer" and self.participant is not None:
                await self._answer(message)
            elif action == "take_over" and self.teaching:
                await self._take_control()
                await self._send_people()
                await self._send_answers()
            elif action in INSTRUCTOR_ACTIONS and self.teaching:
                await self._drive(action, message)
            else:
                raise ClassroomError(_("Only the instructor can drive the session."), code="not_instructor")
        except ClassroomError as exc:
            await self._notice(str(exc))

    async def _notice(self, message: str, *, ok: bool = False) -> None:
        await self.send(text_data=rendering.fragment("classroom/_notice.html", {"message": message, "ok": ok},
                                                     lang=self.lang))

    async def _answer(self, message: dict[str, Any]) -> None:
        claimed = message.get("participant")
        if self.participant is None:
            raise ClassroomError(_("Only participants answer questions."), code="forbidden")
        if claimed not in (None, "", self.participant.pk, str(self.participant.pk)):
            raise ClassroomError(_("You can only answer for yourself."), code="forged")
        data = {k: v for k, v in message.items() if k not in ("HEADERS", "action", "run", "participant")}
        outcome = await batcher().submit(services.AnswerRequest(self.participant, message.get("run"), data))
        self.mine = await _mine_in_thread(outcome.answer, self.lang)
        await self._send_mine()

    async def _drive(self, action: str, message: dict[str, Any]) -> None:
        user = self.scope["user"]
        session = await database_sync_to_async(services.require_control)(
            session_id=self.session_id, user=user, channel=self.channel_name)
        if action == "start_walk":
            session = await self._start_walk(session, user, str(message.get("url", "")))
        elif action == "compare":
            session = await self._compare(session, str(message.get("url", "")), message.get("latency"))
        else:
            session = await database_sync_to_async(_drive_sync)(session, user, action, message)
        if action in ("rename", "remove"):
            await self._after_people_change(action, message)
            return
        await self.channel_layer.group_send(self.group, {"type": "stage.changed", "version": session.stage_version,
                                                         "stage": _brief(session.stage)})

    async def _start_walk(self, session: LiveSession, user: Any, url: str) -> LiveSession:
        from netlearn.walks.services import LabUnavailable, WalkBusy, walk_start
        from netlearn.walks.views import _busy_message

        try:
            walk = await walk_start(url=url, user=user)
        except (WalkBusy, LabUnavailable) as exc:
            raise ClassroomError(_busy_message(exc), code="lab_busy") from exc
        if walk.status == walk.Status.REFUSED:
            from netlearn.walks.explanations import explain

            raise ClassroomError(str(explain(walk.code, walk.detail.get("refusal"))["title"]), code="refused_url")
        return await database_sync_to_async(services.stage_push_walk)(session=session, walk_id=walk.id.hex)

    async def _compare(self, session: LiveSession, url: str, latency: Any) -> LiveSession:
        from netlearn.walks.compare import parse_latency, run_comparison

        await self._notice(_("Running the comparison…"), ok=True)
        result = await run_comparison(url.strip() or "https://shop.netlearn.test/", parse_latency(str(latency or 20)))
        if "error" in result:
            raise ClassroomError(str(result["error"]["title"]), code="compare_failed")
        rows = [{k: v for k, v in row.items() if k != "explanation"} for row in result["rows"]]
        stored = {"rows": rows, "host": result["host"], "path": result["path"],
                  "latency": parse_latency(str(latency or 20))}
        return await database_sync_to_async(services.stage_push_compare)(session=session, result=stored)

    async def _after_people_change(self, action: str, message: dict[str, Any]) -> None:
        target = f"{self.group}.p.{int(message.get('participant') or 0)}"
        kind = "participant.removed" if action == "remove" else "participant.renamed"
        await self.channel_layer.group_send(target, {"type": kind, "name": str(message.get("name", ""))[:40]})
        await self.channel_layer.group_send(self.teach_group, {"type": "people.changed"})

    async def _take_control(self) -> None:
        session = await database_sync_to_async(LiveSession.objects.get)(pk=self.session_id)
        previous = await database_sync_to_async(services.take_control)(
            session=session, user=self.scope["user"], channel=self.channel_name)
        if previous:
            await self.channel_layer.send(previous, {"type": "control.lost"})

    # --- from the room ------------------------------------------------------------------

    async def stage_changed(self, message: dict[str, Any]) -> None:
        if int(message["version"]) > self.version:
            self.stage = message.get("stage") or {}
        await self._send_stage(int(message["version"]))
        if self.teaching:
            self._schedule("answers", self._send_answers)

    def _watch_room(self) -> None:
        """The console redraws its live panels every PANEL_INTERVAL when what they count changed:
        participants joining and answers arriving send no message each (with Redis, a thousand of
        those would queue ahead of the next push in the worker's one receive queue); a burst costs
        two count queries per interval."""
        watching = self._pending.get("watch")
        if watching is not None and not watching.done():
            return

        async def watch() -> None:
            shown_people: int = -1
            shown_answers: int | None = -1  # None: no open question (drawn once, then when it changes)
            while True:
                try:
                    people, answers = await database_sync_to_async(_counts)(self.session_id, self.stage)
                    if people != shown_people:
                        shown_people = people
                        await self._send_people()
                    if answers != shown_answers:
                        shown_answers = answers
                        await self._send_answers()
                except Exception:
                    log.exception("session %s: the console's panels could not be drawn", self.session_id)
                await asyncio.sleep(PANEL_INTERVAL)

        self._pending["watch"] = asyncio.ensure_future(watch())

    async def _send_stage(self, version: int) -> None:
        if version <= self.version:
            return  # an older push arriving late, or one already sent at connect
        assert self.session_id is not None  # set at connect, before any stage is sent
        try:
            html = await rendering.STAGES.get(self.session_id, version, lang=self.lang, console=self.teaching)
        except Exception:
            log.exception("session %s: stage %s could not be rendered", self.session_id, version)
            return await self._notice(_("This screen could not be shown. The instructor can push it again."))
        self.version = version
        await self.send(text_data=html)
        if self.participant is not None and self.mine is not None:
            await self._send_mine()

    async def _send_mine(self) -> None:
        stage = self.stage
        if stage.get("kind") != "question" or self.mine is None or self.mine["run"] != stage.get("run"):
            return
        await self.send(text_data=rendering.fragment("classroom/_mine.html",
                                                     {"mine": self.mine, "state": stage.get("state")}, lang=self.lang))

    async def people_changed(self, message: dict[str, Any]) -> None:
        self._schedule("people", self._send_people)

    async def control_lost(self, message: dict[str, Any]) -> None:
        await self.send(text_data=rendering.fragment("classroom/_controls_lost.html", {}, lang=self.lang))

    async def participant_removed(self, message: dict[str, Any]) -> None:
        await self._refuse(_("The instructor removed you from this session."), CLOSE_REFUSED)

    async def participant_renamed(self, message: dict[str, Any]) -> None:
        await self.send(text_data=rendering.fragment("classroom/_my_name.html", {"name": message["name"]},
                                                     lang=self.lang))

    def _schedule(self, key: str, render: Any) -> None:
        """At most one redraw per panel per PANEL_INTERVAL: a burst of answers costs one query."""
        if key in self._pending and not self._pending[key].done():
            return

        async def later() -> None:
            await asyncio.sleep(PANEL_INTERVAL)
            await render()

        self._pending[key] = asyncio.ensure_future(later())

    async def _send_people(self) -> None:
        html = await database_sync_to_async(_people_html)(self.session_id, self.lang)
        await self.send(text_data=html)

    async def _send_answers(self) -> None:
        html = await database_sync_to_async(_answers_html)(self.session_id, self.lang)
        await self.send(text_data=html)

    @database_sync_to_async
    def _load_mine(self, session: LiveSession) -> dict[str, Any] | None:
        run_id = session.stage.get("run") if session.stage.get("kind") == "question" else None
        row = LiveAnswer.objects.filter(run_id=run_id, participant=self.participant).select_related(
            "run__question").first() if run_id else None
        if row is None:
            return None
        with translation.override(self.lang):
            return _mine(row)


def _brief(stage: dict[str, Any]) -> dict[str, Any]:
    """What a socket needs to know of the stage without rendering it (sent with every push)."""
    return {k: stage[k] for k in ("kind", "run", "state") if k in stage}


def _mine_in_language(answer: LiveAnswer, lang: str) -> dict[str, Any]:
    with translation.override(lang):  # "your answer" in the participant's language
        return _mine(answer)


#: No write here (the answer is stored, the labels cached per process): any thread will do.
_mine_in_thread = database_sync_to_async(_mine_in_language, thread_sensitive=False)


def _mine(answer: LiveAnswer) -> dict[str, Any]:
    question = answer.run.question
    choices, items = selectors.labels(question)
    return {"run": answer.run_id, "text": selectors.answer_text(question, answer.answer, choices=choices, items=items),
            "correct": answer.correct}


def _drive_sync(session: LiveSession, user: Any, action: str, message: dict[str, Any]) -> LiveSession:
    if action == "push_step":
        return services.stage_push_step(session=session, lesson=message.get("lesson", ""), number=message.get("number"))
    if action == "open_question":
        services.question_open(session=session, key=str(message.get("question", "")))
    elif action == "close_question":
        services.question_close(session=session)
    elif action == "reveal":
        services.question_reveal(session=session)
    elif action == "free":
        services.stage_free(session=session)
    elif action == "call_back":
        services.stage_call_back(session=session)
    elif action == "rename":
        services.participant_rename(session=session, user=user, participant_id=message.get("participant"),
                                    name=str(message.get("name", "")))
    elif action == "remove":
        services.participant_remove(session=session, user=user, participant_id=message.get("participant"))
    elif action == "end":
        return services.session_end(session=session, user=user)
    session.refresh_from_db()
    return session


def _counts(session_id: int, stage: dict[str, Any]) -> tuple[int, int | None]:
    """(participants in the room, answers to the open question or None)."""
    people = Participant.objects.filter(session_id=session_id, removed_at__isnull=True).count()
    if stage.get("kind") == "question" and stage.get("state") == "open":
        return people, LiveAnswer.objects.filter(run_id=stage.get("run")).count()
    return people, None


def _people_html(session_id: int, lang: str) -> str:
    session = LiveSession.objects.get(pk=session_id)
    return rendering.fragment("classroom/_people.html", {"session": session, "people": selectors.people(session)},
                              lang=lang)


def _answers_html(session_id: int, lang: str) -> str:
    session = LiveSession.objects.get(pk=session_id)
    stage = session.stage
    run = (QuestionRun.objects.select_related("question").filter(pk=stage.get("run")).first()
           if stage.get("kind") == "question" else None)
    summary = selectors.run_summary(run) if run else None
    return rendering.fragment("classroom/_answers.html", {"session": session, "summary": summary,
                                                          "state": stage.get("state")}, lang=lang)
