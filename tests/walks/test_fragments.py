"""The walk page's pieces built in Python (step list, waterfall rows, packet tree; issue 18) print
byte for byte what the template loops they replaced printed, on a real walk in both languages."""
from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.template import Context, Engine
from django.utils import translation

from netlearn.walks import rendering, steplist, timeline, wireshark
from netlearn.walks.services import walk_start

from .test_services import _finished

pytestmark = pytest.mark.django_db(transaction=True)

#: The template code these functions replaced, as it was (templates/walks/_result_body.html,
#: _timeline.html, _packets.html and the deleted _packet_fields.html).
OLD = {
    "items": '{% for item in items %}{% if item.kind == "phase" %}<li class="walk-phase" data-phase="{{ item.phase }}">'
             '<h3>{{ item.title }}</h3></li>{% elif item.kind == "fold" %}'
             '<li class="walk-fold" data-phase="{{ item.phase }}">'
             '<details><summary>{{ item.title }}</summary><ol class="walk-steps nested">{% for ctx in item.steps %}'
             '{{ ctx.html }}{% endfor %}</ol></details></li>{% else %}{{ item.html }}{% endif %}{% endfor %}',
    "ticks": '{% for t in timeline.ticks %}<span class="tl-tick" style="left: {{ t.left }}%">'
             '{{ t.ms|floatformat:"-2" }} ms</span>{% endfor %}',
    "rows": '{% for r in timeline.rows %}\n    <li class="tl-row"><span class="tl-label" title="{{ r.label }}" '
            'translate="no">{{ r.label }}</span>\n      <span class="tl-track">{% for t in timeline.ticks %}'
            '<span class="tl-grid" style="left: {{ t.left }}%"></span>{% endfor %}{% for b in r.bars %}'
            '<span class="tl-bar tl-{{ b.phase }}" style="left: {{ b.left }}%; width: {{ b.width }}%" '
            'title="{{ b.name }} {{ b.ms }} ms"><span class="visually-hidden">{{ b.name }} {{ b.ms }} ms</span></span>'
            '{% endfor %}</span>\n      <span class="tl-ms">{{ r.ms|floatformat:2 }} ms</span></li>\n    {% endfor %}',
    "tree": '{% for node in pv.tree %}\n      <li><details '
            '{% if forloop.last or forloop.counter > 2 %}open{% endif %}>\n'
            '        <summary><span class="pkt-field" data-start="{{ node.start }}" data-end="{{ node.end }}" '
            'tabindex="0"><strong>{{ node.protocol }}</strong>{% if node.summary %}, <span translate="no">'
            '{{ node.summary }}</span>{% endif %}</span></summary>\n        {% include "fields.html" with '
            'fields=node.fields %}\n      </details></li>\n      {% endfor %}',
    "fields.html": '{% load i18n %}{% if fields %}<ul>{% for f in fields %}<li><span class="pkt-field{% if f.unknown %}'
                   ' is-unknown{% endif %}" data-start="{{ f.start }}" data-end="{{ f.end }}" tabindex="0">'
                   '{{ f.name }}: '
                   '<span translate="no">{{ f.value }}</span>{% if f.unknown %} <span class="badge">'
                   '{% translate "unknown" %}</span>{% endif %}</span>{% if f.children %}{% include "fields.html" with '
                   'fields=f.children %}{% endif %}</li>{% endfor %}</ul>{% endif %}\n',
}


def _old(name: str, **context) -> str:
    engine = Engine(loaders=[("django.template.loaders.locmem.Loader", OLD)],
                    libraries={"i18n": "django.templatetags.i18n"})
    return engine.get_template(name).render(Context(context))


@pytest.mark.parametrize("capture", ["on", "off"])
async def test_python_built_pieces_match_the_templates_they_replaced(embedded_lab, capture) -> None:
    """Captured frames, and rebuilt ones (capture paused: fields user space cannot see are marked
    unknown), each on a real HTTPS walk (TLS records, folded handler runs, a waterfall with TLS)."""
    embedded_lab.lab.capture.paused = capture == "off"
    walk = await _finished((await walk_start(url="https://shop.netlearn.test/", session_key="f")).id)
    assert walk.frames and walk.events

    def compare(lang: str) -> None:
        with translation.override(lang):
            context = rendering.walk_context(walk)
            items = steplist.list_items(context["steps"])
            assert any(item.kind == "fold" for item in items) and any(item.kind == "phase" for item in items)
            assert str(steplist.items_html(items)) == _old("items", items=items)
            wf = context["timeline"]
            assert wf["rows"] and str(timeline.ticks_html(wf["ticks"])) == _old("ticks", timeline=wf)
            assert str(timeline.rows_html(wf["rows"], wf["ticks"])) == _old("rows", timeline=wf)
            for frame in walk.frames[::5]:
                view = rendering.packets_context(walk, {"no": str(frame["no"])})
                assert view.tree and str(wireshark.tree_html(view.tree)) == _old("tree", pv=view)
            if capture == "off":
                assert any("is-unknown" in str(wireshark.tree_html(rendering.packets_context(
                    walk, {"no": str(f["no"])}).tree)) for f in walk.frames)

    for lang in ("en", "ko"):
        await sync_to_async(compare)(lang)


@pytest.mark.parametrize("lang", ["en", "ko", "de"])
def test_numbers_print_as_the_template_printed_them(lang) -> None:
    """``fragments.number``'s float fast path (inside ``one_language``) against Django's own
    ``{{ value }}``, in a language with a decimal comma too."""
    from html import escape

    from django.utils.formats import localize

    from netlearn.walks.fragments import number, one_language, value

    values = [0.0, -0.0, 12.5, 0.4, 33.33, 1e-05, 1e16, 123456789.125, -7.25, float("nan"), float("inf"), 3, -4,
              True, None, "", "<b>"]
    with translation.override(lang):
        expected = [escape(str(localize(v))) for v in values]
        assert [number(v) for v in values] == expected
        with one_language():
            assert [number(v) for v in values] == expected == [value(v) for v in values]
            assert (number(12.5) == "12,5") == (lang == "de")
