"""HTML fragments a live session sends over its WebSocket (htmx ``hx-swap-oob`` swaps).

A stage is rendered once per (version, language, role) per worker and shared by every socket of
that worker (``StageCache``): a push to a thousand participants costs one render per language,
not a thousand. Per-person fragments (your answer, your name) are small and rendered per socket.
"""
from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from channels.db import database_sync_to_async
from django.template.loader import render_to_string
from django.utils import translation

from netlearn.core.markdown import render_markdown

from . import selectors
from .models import LiveSession, QuestionRun

CACHE_SIZE = 64


def stage_context(session: LiveSession, *, lang: str, console: bool) -> dict[str, Any]:
    stage = session.stage or {"kind": "lobby"}
    kind = stage.get("kind", "lobby")
    ctx: dict[str, Any] = {"session": session, "stage": stage, "kind": kind, "version": session.stage_version,
                           "console": console, "LANGUAGE_CODE": lang,
                           # Walk templates read request.LANGUAGE_CODE; a stage is rendered for many requests.
                           "request": {"LANGUAGE_CODE": lang}}
    if kind == "step":
        from netlearn.lessons.models import Step

        step = Step.objects.select_related("lesson").filter(pk=int(stage.get("step") or 0)).first()
        if step is not None:
            ctx.update(step=step, total=step.lesson.steps.count(),
                       body_html=render_markdown(step.body_ko if lang == "ko" and step.body_ko else step.body_en,
                                                 lang=lang))
    elif kind == "walk":
        from netlearn.walks import rendering as walk_rendering
        from netlearn.walks.models import Walk

        walk = Walk.objects.filter(id=str(stage["walk"])).first() if stage.get("walk") else None
        if walk is not None:
            ctx.update(walk_rendering.walk_context(walk) if walk.is_finished else {"walk": walk})
    elif kind == "compare":
        from netlearn.walks.explanations import explain

        rows = [{**row, "explanation": explain(row["code"], {}) if row.get("status") != "done" else None}
                for row in stage.get("rows", [])]
        ctx.update(rows=rows, host=stage.get("host"), path=stage.get("path"), latency=stage.get("latency"))
    elif kind == "question":
        run = QuestionRun.objects.select_related("question").filter(pk=int(stage.get("run") or 0)).first()
        if run is not None:
            ctx.update(_question_context(run, state=stage.get("state", "open")))
    return ctx


def _question_context(run: QuestionRun, *, state: str) -> dict[str, Any]:
    from netlearn.quizzes.cards import CardOptions, card_context, feedback_context
    from netlearn.quizzes.grading import Grade

    question = run.question
    ctx = card_context(question, CardOptions(mode="live"))
    ctx.update(run=run, state=state)
    if state == "revealed":
        feedback = feedback_context(question, Grade(False, 0.0, {}), {}, CardOptions(mode="live"))
        ctx.update(explanation_html=feedback["explanation_html"], choices=feedback["choices"],
                   correct_order=feedback["correct_order"], accepted=feedback["accepted"],
                   model_answer_html=render_markdown(question.model_answer) if question.model_answer else "",
                   summary=selectors.run_summary(run))
    return ctx


def stage_html(session: LiveSession, *, lang: str, console: bool) -> str:
    with translation.override(lang):
        return render_to_string("classroom/_stage.html", stage_context(session, lang=lang, console=console))


class StageCache:
    """(session, version, language, role) → the stage's HTML, rendered once per worker."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[Any, ...], asyncio.Future[str]] = OrderedDict()

    async def get(self, session_id: int, version: int, *, lang: str, console: bool) -> str:
        key = (id(asyncio.get_running_loop()), session_id, version, lang, console)
        future = self._entries.get(key)
        if future is None:
            future = asyncio.ensure_future(self._render(session_id, lang=lang, console=console))
            self._entries[key] = future
            while len(self._entries) > CACHE_SIZE:
                self._entries.popitem(last=False)
        try:
            return await asyncio.shield(future)
        except Exception:
            self._entries.pop(key, None)  # a failed render is not cached
            raise

    @database_sync_to_async
    def _render(self, session_id: int, *, lang: str, console: bool) -> str:
        session = LiveSession.objects.get(pk=session_id)
        return stage_html(session, lang=lang, console=console)


STAGES = StageCache()


def fragment(template: str, context: dict[str, Any], *, lang: str) -> str:
    with translation.override(lang):
        return render_to_string(template, {**context, "LANGUAGE_CODE": lang})
