/* Live classroom pages (participant and console): content arrives over the room's WebSocket as
 * htmx out-of-band swaps. Here: wake the walk player and the ordering widget for pushed content,
 * keep one answer per question (the button stays disabled once sent), and clear aria-busy. */
(function () {
  "use strict";
  document.addEventListener("htmx:wsAfterMessage", function () {
    var stage = document.getElementById("live-stage");
    if (!stage) return;
    stage.removeAttribute("aria-busy");
    var panel = stage.querySelector(".walk-panel:not([data-walk-ready])");
    if (panel) stage.dispatchEvent(new CustomEvent("htmx:afterSettle", {bubbles: true}));
    if (stage.querySelector("[data-ordering]:not([data-enhanced])")) {
      stage.dispatchEvent(new CustomEvent("htmx:load", {bubbles: true}));
    }
  });
  document.addEventListener("htmx:wsConfigSend", function (e) {
    var ask = e.target.closest ? e.target.closest("form[data-confirm]") : null;
    if (ask && !window.confirm(ask.dataset.confirm)) { e.preventDefault(); return; }
    var form = e.target.closest ? e.target.closest("#live-answer-form") : null;
    if (!form) return;
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;  // re-enabled only by a new form (an error re-renders nothing)
    window.setTimeout(function () { if (button && document.contains(button)) button.disabled = false; }, 4000);
  });
})();
