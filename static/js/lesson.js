/* Lesson pages: arrow keys for previous/next, and keeping the persistent parts of the page
 * (diagram, OSI ladder, stepper) in step with the panel htmx swapped in. The diagram is not
 * re-rendered: its classes change, so CSS transitions animate from one step to the next.
 * Without this script every link still works as a plain page load. */
(function () {
  "use strict";

  function panel() { return document.getElementById("step-panel"); }

  function ids(value) { return (value || "").split(/\s+/).filter(Boolean); }

  function syncPage() {
    var p = panel();
    if (!p) return;
    var nodes = ids(p.dataset.litNodes), links = ids(p.dataset.litLinks), layers = ids(p.dataset.layers);
    document.querySelectorAll(".lesson-figure .topo-node").forEach(function (el) {
      el.classList.toggle("lit", nodes.indexOf(el.dataset.node) !== -1);
    });
    document.querySelectorAll(".lesson-figure .topo-link").forEach(function (el) {
      el.classList.toggle("lit", links.indexOf(el.dataset.link) !== -1);
    });
    document.querySelectorAll(".osi-ladder li").forEach(function (el) {
      el.classList.toggle("lit", layers.indexOf(el.dataset.layer) !== -1);
    });
    var number = p.dataset.number;
    document.querySelectorAll(".stepper a").forEach(function (a) {
      if (a.dataset.step === number) { a.setAttribute("aria-current", "step"); a.classList.add("seen"); }
      else a.removeAttribute("aria-current");
    });
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey || typing(e.target)) return;
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    var rel = e.key === "ArrowRight" ? "next" : "prev";
    var scope = panel() || document.querySelector(".lesson-intro");
    var link = scope && scope.querySelector("a[rel=" + rel + "]");
    if (!link) return;
    e.preventDefault();
    link.click();
  });

  document.addEventListener("htmx:afterSwap", function () {
    var p = panel();
    if (!p) return;
    syncPage();
    if (p.getBoundingClientRect().top < 0) p.scrollIntoView({block: "start"});
    var heading = document.getElementById("step-title");
    if (heading) heading.focus({preventScroll: true});
  });

  // Back/forward through pushed URLs: htmx restores its history snapshot; re-sync the drawing.
  document.addEventListener("htmx:historyRestore", syncPage);
})();
