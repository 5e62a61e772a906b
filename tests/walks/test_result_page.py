"""A finished walk's page built in Python (``walks/resultpage.py``; issue 18) prints byte for byte
what the templates it replaced printed (kept as they were under ``old_templates/``), on real
walks: captured and rebuilt frames, a failed and a refused walk, every capture notice, the
packet panes for a filter, a hop, a bad filter and a chosen packet; in English and Korean."""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.template import Context, Engine, engines
from django.urls import reverse
from django.utils import translation

from netlearn.walks import rendering, resultpage
from netlearn.walks.models import Walk
from netlearn.walks.services import walk_start

from .test_services import _finished

pytestmark = pytest.mark.django_db(transaction=True)

OLD_TEMPLATES = Path(__file__).parent / "old_templates"
_engine: Engine | None = None


def _old(name: str, context: dict[str, Any]) -> str:
    global _engine
    if _engine is None:
        _engine = Engine(dirs=[str(OLD_TEMPLATES)], libraries={
            "i18n": "django.templatetags.i18n", "walks": "netlearn.walks.templatetags.walks"})
    return _engine.get_template(name).render(Context(context))


#: Capture notices a real walk on this machine may not give: lost frames, a walk cut short, a
#: cold cache, capture switched off by the setting, a reason-less rebuild.
NOTICES = [
    {"lost": 3, "kernel_drops": 2, "cut_short": True, "cache": "cold"},
    {"mode": "rebuilt", "reason": "NETLEARN_CAPTURE=off", "lost": 0, "kernel_drops": 4},
    {"mode": "rebuilt", "reason": None, "cache": "warm", "cut_short": 1},
]
#: Packet panes: a filter, a hop, a bad filter, a filter that matches nothing, a chosen packet.
QUERIES = [{}, {"filter": "dns || tcp.flags.syn"}, {"hop": "client-balancer"}, {"filter": "tcp && nonsense"},
           {"filter": "quic"}, {"filter": "<b>\"x\"", "hop": "nowhere"}]


def _compare(walk: Walk) -> int:
    """Each piece, old and new, in en and ko; the number of comparisons made."""
    compared = 0
    for lang in ("en", "ko"):
        with translation.override(lang):
            context = rendering.walk_context(walk)
            html = rendering.final_html(walk)
            assert html == _old("walks/_result.html", context), (walk.code, lang)
            assert (re.search("[가-힣]", html) is not None) == (lang == "ko"), "the Korean catalogue is compiled"
            compared += 1
            if walk.frames:
                for query in [*QUERIES, {"no": str(walk.frames[-1]["no"])}]:
                    packets = rendering.packets_context(walk, query)
                    old = _old("walks/_packets.html", {"walk": walk, "packets": packets})
                    assert rendering.packets_html(walk, query) == old, (query, lang)
                    compared += 1
                for notice in NOTICES:
                    changed = copy.copy(walk)
                    changed.detail = {**walk.detail, "capture": {**(walk.detail.get("capture") or {}), **notice}}
                    context = rendering.walk_context(changed)
                    assert str(resultpage.walk_more_html(context)) == _old("walks/_walk_more.html", context), notice
                    compared += 1
    return compared


@pytest.mark.parametrize("capture", ["on", "off"])
async def test_the_walk_page_matches_the_templates_it_replaced(embedded_lab, capture) -> None:
    """An HTTPS walk (TLS, folded handler runs, the flow graph) and a failed one, frames captured
    or rebuilt (capture paused)."""
    embedded_lab.lab.capture.paused = capture == "off"
    ok = await _finished((await walk_start(url="https://shop.netlearn.test/", session_key="p")).id)
    failed = await _finished((await walk_start(url="http://nosuch.netlearn.test/", session_key="p")).id)
    assert ok.status == Walk.Status.DONE and ok.frames and ok.backends
    assert failed.status == Walk.Status.FAILED and failed.code
    assert await sync_to_async(_compare)(ok) >= 2 * (1 + 7 + 3) and await sync_to_async(_compare)(failed) >= 2


async def test_a_refused_walk_matches_the_templates_it_replaced() -> None:
    walk = await walk_start(url="http://169.254.169.254/latest/", session_key="p")
    assert walk.status == Walk.Status.REFUSED
    assert await sync_to_async(_compare)(await Walk.objects.aget(id=walk.id)) == 2


def _pages_compare(walk: Walk) -> int:
    """The pages that include the converted templates (the walk's own page, a lesson's try-it
    result) render the same with the old templates in their place."""
    real = engines["django"].engine
    old = Engine(dirs=[str(OLD_TEMPLATES), *real.dirs], app_dirs=real.app_dirs, libraries=real.libraries,
                 builtins=real.builtins)
    compared = 0
    for lang in ("en", "ko"):
        with translation.override(lang):
            for name, context in (("walks/_panel.html", rendering.walk_context(walk)),
                                  ("walks/_try_walk_result.html", rendering.try_walk_context(walk))):
                new_html = real.get_template(name).render(Context(context))
                assert new_html == old.get_template(name).render(Context(context)), (name, lang)
                assert "walk-summary" in new_html
                compared += 1
    return compared


async def test_pages_that_include_them_are_unchanged(embedded_lab) -> None:
    walk = await _finished((await walk_start(url="https://shop.netlearn.test/", session_key="p")).id)
    assert await sync_to_async(_pages_compare)(walk) == 4


def test_walk_urls_are_what_reverse_gives() -> None:
    walk_id = Walk().id
    for name in ("walks:detail", "walks:json", "walks:pcap", "walks:packets"):
        assert resultpage.walk_url(name, walk_id) == reverse(name, args=[walk_id])
