"""A finished walk's result, built in Python: the summary and step list (``_result_body.html``),
then the capture notice, the waterfall, the packet panes and the flow graph
(``_walk_more.html``). The templates of those names now call these functions.

Why: through Django's template engine (includes, ``if``/``with`` nodes, ~150 variables and
translations) this page cost as much as building everything it shows, and every walk renders
it once per language for its sockets (issue 18). Byte for byte what the templates printed:
``tests/walks/test_result_page.py`` renders the old templates beside these on real walks
(captured and rebuilt frames, failed and refused walks, en and ko). What the template did, done
here: ``{{ value }}`` is localized and escaped (:func:`fragments.value`), ``{% translate "…" %}``
of a literal is *not* escaped (a literal is safe, so is its translation), ``{% blocktranslate %}``
escapes its values but not its sentence, ``{% url %}`` escapes.
"""
from __future__ import annotations

from functools import lru_cache
from html import escape
from typing import Any
from uuid import UUID

from django.template.defaultfilters import add, floatformat
from django.urls import get_script_prefix, reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import ngettext

from . import wireshark
from .fragments import gettext as _
from .fragments import text, value
from .presenters import _role

#: Any id: the walk URLs are reversed once with it, then the real id is put in its place.
_PLACEHOLDER = UUID(int=0)


@lru_cache(maxsize=64)
def _url_around_id(name: str, script_prefix: str) -> tuple[str, str]:
    url = reverse(name, args=[_PLACEHOLDER])
    before, found, after = url.partition(str(_PLACEHOLDER))
    assert found, url
    return before, after


def walk_url(name: str, walk_id: UUID) -> str:
    """``reverse(name, args=[walk_id])`` for the walk URLs (an id is their only argument), without
    the resolver's work on every call: a walk's page names four of them."""
    before, after = _url_around_id(name, get_script_prefix())
    return f"{before}{walk_id}{after}"


def walk_page_html(ctx: dict[str, Any]) -> str:
    """``_result.html``: the result and the "more" section, each swapped in out of band."""
    return (f'<div id="walk-result" class="walk-result" hx-swap-oob="true">{result_body_html(ctx)}</div>\n'
            f'<div id="walk-more" class="walk-more" hx-swap-oob="true">{walk_more_html(ctx)}</div>\n')


def result_body_html(ctx: dict[str, Any]) -> SafeString:
    """``_result_body.html``: why a walk stopped (if it did), the summary line and the step list."""
    walk, explanation = ctx["walk"], ctx.get("explanation")
    out = ["\n"]
    if explanation:
        internet = explanation.get("internet")
        internet_html = (f'<p class="muted"><strong>{_("On the real Internet:")}</strong> {text(internet)}</p>'
                         if internet else "")
        out.append(f'\n<div class="walk-explanation card {"ok" if walk.status == "done" else "warn"}" role="status">\n'
                   f'  <h3>{text(explanation.get("title", ""))}</h3>\n'
                   f'  <p>{text(explanation.get("why", ""))}</p>\n'
                   f'  {internet_html}\n</div>\n')
    out.append("\n")
    if ctx.get("steps"):
        count = ctx["step_count"]
        backends = (f' · {_("answered by")} {text(", ".join(_role(str(c)) for c in walk.backends))}'
                    if walk.backends else "")
        out.append(
            f'\n<div class="walk-summary muted small">\n'
            f'  {ngettext("%(counter)s step", "%(counter)s steps", count) % {"counter": value(count)}},\n'
            f'  {floatformat(ctx.get("total_ms"), 2)} ms{backends}\n'
            f'  · <a href="#walk-more">{_("Timing and packets")}</a> · '
            f'<a href="{escape(walk_url("walks:json", walk.id))}">JSON</a>\n'
            f'</div>\n'
            f'<ol id="walk-steps" class="walk-steps" tabindex="0" aria-label="{_("Steps of the walk")}">\n'
            f'  {ctx.get("steps_html")}\n</ol>\n')
    out.append("\n")
    return mark_safe("".join(out))


def walk_more_html(ctx: dict[str, Any]) -> SafeString:
    """``_walk_more.html``: the capture notice, the waterfall, the packets and the flow graph."""
    walk, packets = ctx["walk"], ctx.get("packets")
    out = ["\n", capture_notice_html(ctx.get("capture"), walk), "\n", timeline_html(ctx.get("timeline")), "\n"]
    if packets:
        out.append(f'\n<section class="packets card" id="packets" aria-labelledby="packets-h">\n'
                   f'  <h3 id="packets-h">{_("Packets, the way Wireshark shows them")}</h3>\n'
                   f'  <div id="packet-view">{packets_html(walk, packets)}</div>\n</section>\n'
                   f'{flow_html(ctx.get("flow"))}\n')
    out.append("\n")
    return mark_safe("".join(out))


def capture_notice_html(capture: dict[str, Any] | None, walk: Any) -> SafeString:
    """``_capture_notice.html`` (issue 13): how the packets were seen, said plainly; the pcapng."""
    if not capture:
        return mark_safe("\n\n")
    mode, lost, drops = capture.get("mode"), capture.get("lost"), capture.get("kernel_drops")
    warn = " warn" if mode != "captured" or lost or capture.get("cut_short") else ""
    if mode == "captured":
        frames = capture["frames"]
        how = "\n  " + ngettext("%(counter)s packet captured on the wire (kernel timestamps)",
                                "%(counter)s packets captured on the wire (kernel timestamps)",
                                frames) % {"counter": value(frames)} + "\n  "
    else:
        try:
            switched_off = "NETLEARN_CAPTURE=off" in capture.get("reason")  # type: ignore[operator]
        except TypeError:  # no reason: the template's ``in`` was false
            switched_off = False
        why = (_("Packets rebuilt from real values: capture is switched off (NETLEARN_CAPTURE=off).") if switched_off
               else _("Packets rebuilt from real values: capture needs CAP_NET_RAW."))
        real = _("Addresses, ports, lengths and payloads are real; values only the kernel knows are marked unknown.")
        how = f"\n  <strong>{why}</strong>\n  {real}\n  "
    cache = _("cold DNS cache") if capture.get("cache") == "cold" else _("warm DNS cache")
    lost_html = ""
    if lost or drops:
        total = value(add(capture.get("lost", ""), capture.get("kernel_drops", "")))
        lost_html = f'· <strong>{_("%(lost)s frames lost: the capture buffer overflowed") % {"lost": total}}</strong>'
    cut_short = _("cut short: not every connection had closed when the walk's deadline passed")
    cut = f"· <strong>{cut_short}</strong>" if capture.get("cut_short") else ""
    pcap = (f'· <a href="{escape(walk_url("walks:pcap", walk.id))}" download>'
            f'{_("Download the packets (pcapng, opens in Wireshark)")}</a>' if walk.frames else "")
    return mark_safe(f'\n\n<div class="capture-notice small{warn}" role="note">\n  {how}\n  · {cache}\n  {lost_html}\n'
                     f'  {cut}\n  {pcap}\n</div>\n\n')


def timeline_html(timeline: dict[str, Any] | None) -> SafeString:
    """``_timeline.html``: the waterfall (its ticks and rows are built by ``timeline``)."""
    if not timeline or not timeline.get("rows"):
        return mark_safe("\n")
    legend = "".join(f'<li><span class="tl-swatch tl-{text(key)}" aria-hidden="true"></span>{text(name)}</li>'
                     for key, name in timeline["legend"])
    note = _("Each row starts when it started in the walk: DNS, then the connection (TCP, then TLS), then each "
             "request (waiting for the first byte is server time, the rest the transfer).")
    return mark_safe(
        f'\n<figure class="timeline-wf card" aria-labelledby="tl-cap">\n'
        f'  <figcaption id="tl-cap">{_("Timing waterfall")}</figcaption>\n'
        f'  <ul class="tl-legend">{legend}</ul>\n'
        f'  <div class="tl-axis" aria-hidden="true"><span class="tl-axis-label"></span>'
        f'<span class="tl-axis-track">{timeline["ticks_html"]}</span><span></span></div>\n'
        f'  <ol class="tl-rows">\n    {timeline["rows_html"]}\n  </ol>\n'
        f'  <p class="muted small">{note}</p>\n</figure>\n\n')


def flow_html(flow: dict[str, Any] | None) -> SafeString:
    """``_flow.html``: Wireshark's flow graph (its arrows are built by ``wireshark``)."""
    if not flow or not flow.get("arrows"):
        return mark_safe("\n")
    width, height, count = value(flow["width"]), value(flow["height"]), len(flow["arrows"])
    label = ngettext("Flow graph of %(counter)s packet between the walk's hosts; the packet list above has the "
                     "same packets as a table.",
                     "Flow graph of %(counter)s packets between the walk's hosts; the packet list above has the "
                     "same packets as a table.", count) % {"counter": value(count)}
    line_end = value(flow["line_end"])
    hosts = "".join(f'<text class="flow-host" x="{value(h["x"])}" y="18" text-anchor="middle">{text(h["name"])}'
                    f'</text>\n    <line class="flow-life" x1="{value(h["x"])}" y1="28" x2="{value(h["x"])}" '
                    f'y2="{line_end}"/>' for h in flow["hosts"])
    like = _("(like Wireshark's Statistics → Flow Graph: one arrow per packet, time runs down)")
    return mark_safe(
        f'\n<figure class="flow card" aria-labelledby="flow-cap">\n'
        f'  <figcaption id="flow-cap">{_("Flow graph")} <span class="muted small">{like}</span></figcaption>\n'
        f'  <div class="flow-scroll" tabindex="0" role="region" aria-labelledby="flow-cap">\n'
        f'  <svg class="flow-svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"\n'
        f'       aria-label="{label}">\n'
        f'    <text class="flow-host flow-comment-head" x="{value(flow["comment_x"])}" y="18">{_("Comment")}</text>\n'
        f'    {hosts}\n    {flow["arrows_html"]}\n  </svg>\n  </div>\n</figure>\n\n')


def packets_html(walk: Any, pv: wireshark.PacketView) -> SafeString:
    """``_packets.html`` (issue 14): Wireshark's three panes. htmx swaps this fragment for a new
    filter or a chosen packet; it works as plain links without JS."""
    packets_url = walk_url("walks:packets", walk.id)
    examples = "".join(f'<option value="{text(ex)}">' for ex in pv.examples)
    hops = "".join(f'<option value="{text(key)}"{" selected" if key == pv.hop else ""}>{text(label)}</option>'
                   for key, label in pv.hops)
    words = ", ".join(f"<code>{text(ex)}</code>" for ex in pv.examples)
    shown = _("Showing %(shown)s of %(total)s packets.") % {"shown": value(len(pv.rows)), "total": value(pv.total)}
    error = f'<p class="error" role="alert">{text(pv.filter_error)}</p>' if pv.filter_error else ""
    heads = "".join(f'<th scope="col">{head}</th>' for head in (
        _("No."), _("Time"), _("Source"), _("Destination"), _("Protocol"), _("Length"), _("Info")))
    invalid = 'aria-invalid="true"' if pv.filter_error else ""
    words_label = _("Wireshark's words:")
    rows = (wireshark.packet_rows_html(pv, packets_url) if pv.rows else
            f'\n        <tr><td colspan="7" class="muted">{_("No packet matches this filter.")}</td></tr>\n      ')
    selected = ""
    if pv.selected:
        title = _("Packet %(no)s: %(len)s bytes on the wire") % {
            "no": value(pv.selected.get("no", "")), "len": value(pv.selected.get("length", ""))}
        selected = (
            f'\n  <div class="pkt-detail" role="region" aria-label="{_("Packet details")}">\n'
            f'    <h4>{title}</h4>\n    <ul class="pkt-tree">\n      {pv.tree_html}\n    </ul>\n  </div>\n'
            f'  <div class="pkt-bytes" tabindex="0" role="region" aria-label="{_("Packet bytes")}" translate="no">\n'
            f'    {pv.hex_html}\n  </div>\n  ')
    return mark_safe(
        f'\n\n<form class="pkt-filter" method="get" action="{escape(walk_url("walks:detail", walk.id))}#packets"\n'
        f'      hx-get="{escape(packets_url)}" hx-target="#packet-view" hx-swap="innerHTML">\n'
        f'  <label for="pkt-filter-input">{_("Display filter")}</label>\n'
        f'  <input id="pkt-filter-input" name="filter" type="text" value="{text(pv.filter_text)}" spellcheck="false" '
        f'autocomplete="off"\n'
        f'         translate="no" list="pkt-filter-examples" placeholder="dns || tcp.flags.syn" '
        f'aria-describedby="pkt-filter-help"\n'
        f'         {invalid}>\n'
        f'  <datalist id="pkt-filter-examples">{examples}</datalist>\n'
        f'  <label for="pkt-hop">{_("Hop")}</label>\n'
        f'  <select id="pkt-hop" name="hop">\n'
        f'    <option value="">{_("every hop")}</option>\n'
        f'    {hops}\n  </select>\n'
        f'  <button type="submit">{_("Apply")}</button>\n'
        f'  <p id="pkt-filter-help" class="small muted">{words_label} {words}; '
        f'{_("join with || or &&.")}\n    {shown}</p>\n'
        f'  {error}\n</form>\n'
        f'<div class="pkt-panes">\n'
        f'  <div class="pkt-list-wrap" tabindex="0" role="region" aria-label="{_("Packet list")}">\n'
        f'    <table class="pkt-list">\n      <thead><tr>{heads}</tr></thead>\n      <tbody>\n      {rows}\n'
        f'      </tbody>\n    </table>\n  </div>\n  {selected}\n</div>\n\n')
