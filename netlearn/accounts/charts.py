"""A server-rendered SVG bar chart of answers per day: no JavaScript, prints, and reads well
to screen readers through the data table that accompanies it in the template."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 720, 220
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 36, 28, 12


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    correct_y: float
    correct_h: float
    wrong_y: float
    wrong_h: float
    label: str
    correct: int
    wrong: int
    show_label: bool
    label_x: float
    label_anchor: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, int]]  # (y, value)
    baseline: float
    left: int
    total: int


def _nice_max(value: int) -> int:
    for step in (4, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if value <= step:
            return step
    return ((value // 1000) + 1) * 1000


def answers_chart(days: Sequence) -> Chart:
    """``days``: objects with ``day``, ``correct``, ``wrong`` (see selectors.answers_by_day)."""
    top = _nice_max(max((d.correct + d.wrong for d in days), default=0))
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = (WIDTH - PAD_LEFT) / max(len(days), 1)
    bars = []
    for i, d in enumerate(days):
        ch = plot_h * d.correct / top
        wh = plot_h * d.wrong / top
        base = HEIGHT - PAD_BOTTOM
        bars.append(Bar(
            x=round(PAD_LEFT + i * slot + slot * 0.15, 2), width=round(slot * 0.7, 2),
            correct_y=round(base - ch, 2), correct_h=round(ch, 2),
            wrong_y=round(base - ch - wh, 2), wrong_h=round(wh, 2),
            label=d.day.strftime("%m-%d"), correct=d.correct, wrong=d.wrong,
            # A label a week, counted back from today, so the newest day is always labelled.
            show_label=(len(days) - 1 - i) % 7 == 0,
            label_x=round(PAD_LEFT + i * slot + slot / 2, 2) if i < len(days) - 1 else WIDTH,
            label_anchor="middle" if i < len(days) - 1 else "end",
        ))
    ticks = [(round(HEIGHT - PAD_BOTTOM - plot_h * v / top, 2), v) for v in (0, top // 2, top)]
    return Chart(WIDTH, HEIGHT, bars, ticks, HEIGHT - PAD_BOTTOM, PAD_LEFT,
                 sum(d.correct + d.wrong for d in days))
