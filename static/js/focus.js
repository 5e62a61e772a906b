/* Focus after htmx swaps: when a swap removes the element that had focus (answering a question
 * replaces the whole card), focus would fall to <body> and a keyboard or screen-reader user would
 * start again from the top. Move it to what replaced it instead: an element marked
 * [data-focus-after-swap], else the swapped element when it is focusable (tabindex="-1"), else its
 * first heading. Swaps that leave the focused element in place change nothing. */
(function () {
  "use strict";

  function lost() {
    const active = document.activeElement;
    return !active || active === document.body || !active.isConnected;
  }

  function landing(el) {
    const marked = el.matches("[data-focus-after-swap]") ? el : el.querySelector("[data-focus-after-swap]");
    if (marked) return marked;
    if (el.hasAttribute("tabindex")) return el;
    const heading = el.querySelector("h1, h2, h3");
    if (heading && !heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
    return heading;
  }

  document.addEventListener("htmx:afterSettle", (e) => {
    if (!lost()) return;
    let el = e.detail && e.detail.elt;
    if (el && !el.isConnected && el.id) el = document.getElementById(el.id);
    if (!el || !el.isConnected || el === document.body) return;
    const target = landing(el);
    if (target) target.focus({preventScroll: true});
  });

  // Code blocks wider than their column scroll sideways; a keyboard user can only scroll what can
  // take focus (WCAG 2.1.1), so wide ones join the tab order.
  function scrollables(root) {
    (root || document).querySelectorAll("pre:not([tabindex])").forEach((pre) => {
      if (pre.scrollWidth > pre.clientWidth + 1 || pre.scrollHeight > pre.clientHeight + 1) pre.setAttribute("tabindex", "0");
    });
  }
  document.addEventListener("DOMContentLoaded", () => scrollables(document));
  document.addEventListener("htmx:afterSettle", (e) => scrollables(e.detail && e.detail.elt && e.detail.elt.isConnected ? e.detail.elt : document));
})();
