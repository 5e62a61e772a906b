"""The walk's step list as the page shows it: chapters, and runs of repetitive steps folded.

A backend's handler pipeline (decoder → logger → router → application → encoder) is five steps
per request; a page with sub-resources repeats it for each, and these runs made half of a walk's
playback. The first step of a run stays in the list (playback stops there); the rest fold into
one expandable row that playback skips unless the learner opens it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import ngettext

from . import presenters
from .fragments import gettext as _

#: A run shorter than this stays as it is: folding two steps hides more than it saves.
FOLD_MIN = 3


@dataclass
class ListItem:
    """One direct child of the step list: a chapter heading, a step, or a fold of steps."""
    kind: str  # "phase" | "step" | "fold"
    phase: str = ""
    title: str = ""
    html: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)


def _foldable(step: presenters.StepView) -> str | None:
    """The run a step belongs to, or None: consecutive handler steps of the same backend."""
    return f"handler:{step.component}" if step.kind == "handler" else None


def list_items(step_ctxs: list[dict[str, Any]]) -> list[ListItem]:
    items: list[ListItem] = []
    i = 0
    while i < len(step_ctxs):
        ctx = step_ctxs[i]
        step: presenters.StepView = ctx["step"]
        if step.phase_start:
            items.append(ListItem("phase", phase=step.phase, title=ctx["phase_title"]))
        key = _foldable(step)
        j = i + 1
        if key:
            while (j < len(step_ctxs) and _foldable(step_ctxs[j]["step"]) == key
                   and not step_ctxs[j]["step"].phase_start):
                j += 1
        items.append(ListItem("step", phase=step.phase, html=ctx["html"]))
        rest = step_ctxs[i + 1:j]
        if len(rest) + 1 >= FOLD_MIN:
            names = " → ".join(str(c["step"].event.get("detail", {}).get("handler", "")) for c in step_ctxs[i:j])
            items.append(ListItem("fold", phase=step.phase, steps=rest, title=ngettext(
                "%(n)d more step of the same pipeline (%(names)s)", "%(n)d more steps of the same pipeline (%(names)s)",
                len(rest)) % {"n": len(rest), "names": names}))
        else:
            items.extend(ListItem("step", phase=c["step"].phase, html=c["html"]) for c in rest)
        i = j
    return items


def items_html(items: list[ListItem]) -> SafeString:
    """The step list's children as HTML: chapter headings, steps (their ``<li>`` made already) and
    folds. Built here rather than in the template (a loop over ~80 items through the template
    engine cost more than the items); every value escaped as the template escaped it."""
    out = []
    for item in items:
        if item.kind == "phase":
            out.append(f'<li class="walk-phase" data-phase="{escape(item.phase)}"><h3>{escape(item.title)}</h3></li>')
        elif item.kind == "fold":
            out.append(f'<li class="walk-fold" data-phase="{escape(item.phase)}"><details><summary>{escape(item.title)}'
                       f'</summary><ol class="walk-steps nested">{"".join(c["html"] for c in item.steps)}</ol>'
                       '</details></li>')
        else:
            out.append(item.html)
    return mark_safe("".join(out))


def chapter_labels() -> dict[str, str]:
    """Words the playback controls need for chapters, translated once per render."""
    return {"next": _("Next chapter"), "prev": _("Previous chapter")}
