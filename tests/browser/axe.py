"""axe-core in real Chromium: the accessibility gate shared by the browser tests.

axe-core is vendored for the tests only (``scripts/ensure-tools.sh`` puts it under
``var/vendor/axe-core``). Our CSP refuses injected scripts, so contexts made here bypass CSP
(the page's own CSP is tested elsewhere); the script tag is then added from the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_JS = Path(__file__).resolve().parents[2] / "var" / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
SCHEMES = ("light", "dark")


def new_context(browser, *, color_scheme: str = "light", phone: bool = False, locale: str = "en",
                reduced_motion: str = "no-preference"):
    """A browser context axe can run in, at a laptop's or a phone's size."""
    size = {"width": 390, "height": 844} if phone else {"width": 1366, "height": 900}
    extra = {"device_scale_factor": 2, "is_mobile": True, "has_touch": True} if phone else {}
    return browser.new_context(viewport=size, bypass_csp=True, color_scheme=color_scheme,
                               reduced_motion=reduced_motion, locale=locale,
                               extra_http_headers={"Accept-Language": locale}, **extra)


def violations(page, *, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The serious and critical violations on the page as it is now."""
    if not AXE_JS.exists():
        raise AssertionError(f"axe-core missing at {AXE_JS}: run scripts/ensure-tools.sh (make test does)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    found = page.evaluate(
        """async (exclude) => {
            const context = exclude.length ? {exclude: exclude.map((s) => [s])} : document;
            return (await axe.run(context, {resultTypes: ["violations"]})).violations;
        }""", list(exclude))
    return [v for v in found if v.get("impact") in BLOCKING]


def describe(found: list[dict[str, Any]]) -> str:
    """One line per violation and node, short enough to read in a failing test's output."""
    lines = []
    for v in found:
        for node in v["nodes"][:6]:
            summary = (node.get("failureSummary") or "").replace("\n", " ")[:220]
            lines.append(f"{v['id']} ({v['impact']}): {node['target']} {summary}")
        if len(v["nodes"]) > 6:
            lines.append(f"  … and {len(v['nodes']) - 6} more {v['id']}")
    return "\n".join(lines)


def assert_clean(page, where: str, **kwargs) -> int:
    """Fail with every serious/critical violation named; return how many rules were checked clean."""
    found = violations(page, **kwargs)
    assert not found, f"axe on {where}:\n{describe(found)}"
    return 0
