"""Accessibility and CSP checks shared by browser tests: axe-core findings and CSP violations.

axe-core (var/vendor/axe-core/axe.min.js, installed by ``make test``) is injected into the page,
which our CSP forbids, so run it in a context made with ``bypass_csp=True`` (:func:`axe_context`);
check the CSP itself in an ordinary context (:class:`CspWatch`), where it is enforced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parents[2] / "var" / "vendor" / "axe-core" / "axe.min.js"
#: Findings that fail a test; "moderate" and "minor" ones are reported by axe but tolerated.
BLOCKING = ("serious", "critical")

#: Records every securitypolicyviolation event from the first script on (before the page's own).
_LISTEN = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`
    + ` at ${e.sourceFile}:${e.lineNumber} ${e.sample || ''}`);
});
"""


def axe_context(browser: Any, **options: Any) -> Any:
    """A browser context in which axe can be injected (the page's CSP is bypassed)."""
    return browser.new_context(bypass_csp=True, **{"viewport": {"width": 1280, "height": 900}, **options})


def axe_findings(page: Any, *, impacts: tuple[str, ...] = BLOCKING) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now, keeping those of the given impacts."""
    if not AXE.exists():
        raise AssertionError(
            f"axe-core not found at {AXE}: run `make test` (scripts/ensure-tools.sh installs it)"
        )
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [v for v in violations if v.get("impact") in impacts]


def describe(findings: list[dict[str, Any]]) -> str:
    """One line per finding and node: rule, impact, the element, axe's own summary."""
    lines = []
    for finding in findings:
        for node in finding.get("nodes", [])[:5]:
            lines.append(
                f"{finding['id']} ({finding['impact']}): {node.get('html', '')[:160]} — "
                f"{node.get('failureSummary', '').splitlines()[-1] if node.get('failureSummary') else ''}"
            )
    return "\n".join(lines)


class CspWatch:
    """CSP violations on a page whose CSP is enforced: the DOM events and the console's reports."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(_LISTEN)
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def violations(self) -> list[str]:
        """Everything reported so far on the current document, and in the console since the start."""
        try:
            events = self.page.evaluate("window.__cspViolations || []")
        except Exception:  # noqa: BLE001 - a page in the middle of navigating: the console still counts
            events = []
        return [*events, *self.console]
