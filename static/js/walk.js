/* Walk playback: steps arrive (live over the WebSocket, or rendered for a replay) as <li>s in
 * #walk-steps; this script plays them back, moving a packet along the diagram's link for each,
 * with play/pause, step, speed, scrubber, slow motion and keyboard shortcuts.
 * Reduced motion: no moving packets, just the highlight. Plain JS, no dependencies but htmx. */
(function () {
  "use strict";
  const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  const BASE_MS = 650;
  let state = null;

  function init(panel) {
    if (!panel || panel.dataset.walkReady) return;
    panel.dataset.walkReady = "1";
    state = {panel, index: -1, playing: false, speed: 1, slowmo: false, timer: null, anim: null};
    const controls = panel.querySelector(".walk-controls");
    controls.addEventListener("click", (e) => {
      const btn = e.target.closest("button[data-action]");
      if (!btn) return;
      ({play: togglePlay, back: () => step(-1), forward: () => step(1)})[btn.dataset.action]();
    });
    controls.querySelector("[data-control=speed]").addEventListener("change", (e) => { state.speed = parseFloat(e.target.value) || 1; });
    controls.querySelector("[data-control=slowmo]").addEventListener("change", (e) => { state.slowmo = e.target.checked; });
    controls.querySelector("[data-control=scrubber]").addEventListener("input", (e) => { halt(); show(parseInt(e.target.value, 10), true); });
    panel.addEventListener("click", (e) => {
      const btn = e.target.closest(".inspect-btn");
      const li = e.target.closest(".walk-step");
      if (btn || (li && !e.target.closest("a"))) { halt(); show(steps().indexOf(li), true); }
    });
    // Observe the panel, not #walk-result: the final message replaces #walk-result itself (OOB swap).
    // React only to new steps: the counter and scrubber also change the panel's DOM.
    const addsSteps = (m) => Array.from(m.addedNodes).some((n) => n.nodeType === 1 &&
      (n.matches(".walk-step, #walk-steps, #walk-result") || n.querySelector(".walk-step")));
    new MutationObserver((mutations) => {
      if (!mutations.some(addsSteps)) return;
      refresh();
      if (!state.playing && state.index < 0) play();
    }).observe(panel, {childList: true, subtree: true});
    refresh();
    play();
  }

  function steps() { return state ? Array.from(state.panel.querySelectorAll("#walk-steps > .walk-step")) : []; }

  function refresh() {
    const all = steps();
    const scrub = state.panel.querySelector("[data-control=scrubber]");
    scrub.max = Math.max(0, all.length - 1);
    if (!all.length) {  // a result without steps (a walk that failed, e.g. worker_lost): nothing is lit
      state.index = -1;
      const svg = state.panel.querySelector("svg.topology");
      if (svg) svg.querySelectorAll(".lit, .active, circle.packet").forEach((el) =>
        el.matches("circle.packet") ? el.remove() : el.classList.remove("lit", "active"));
    }
    // The final render replaces the live list: keep the learner's place in the new one.
    all.forEach((li, i) => {
      li.classList.toggle("future", i > state.index);
      li.classList.toggle("current", i === state.index);
      li.setAttribute("aria-current", i === state.index ? "step" : "false");
    });
    counter();
  }

  function counter() {
    const n = steps().length;
    const el = state.panel.querySelector(".step-counter");
    const text = n ? `${Math.max(0, state.index + 1)} / ${n}` : "";
    if (el.textContent !== text) el.textContent = text;
    const scrub = state.panel.querySelector("[data-control=scrubber]");
    scrub.value = Math.max(0, state.index);
    scrub.setAttribute("aria-valuetext", el.textContent);
  }

  function togglePlay() { state.playing ? pause() : play(); }

  function play() {
    if (!state || !steps().length) return;
    if (state.index >= steps().length - 1) state.index = -1;
    state.playing = true;
    state.panel.classList.add("is-playing");
    tick();
  }

  // Stop playback without loading the inspector: callers that go on to show() another step load
  // it for that one (loading both would race, and the older answer could land last).
  function halt() {
    if (!state) return;
    state.playing = false;
    state.panel.classList.remove("is-playing");
    clearTimeout(state.timer);
  }

  function pause() {
    halt();
    if (state) inspect(steps()[state.index]);
  }

  function tick() {
    if (!state.playing) return;
    const all = steps();
    if (state.index >= all.length - 1) {
      const running = state.panel.querySelector(".running");
      if (running) { state.timer = setTimeout(tick, 150); return; }  // live walk: more steps will come
      pause();
      return;
    }
    show(state.index + 1, false);
    if (state.slowmo) { pause(); return; }
    state.timer = setTimeout(tick, BASE_MS / state.speed);
  }

  function step(delta) { halt(); show(Math.min(Math.max(state.index + delta, 0), steps().length - 1), true); }

  function show(i, withInspector) {
    const all = steps();
    if (i < 0 || i >= all.length) return;
    state.index = i;
    all.forEach((li, j) => {
      li.classList.toggle("current", j === i);
      li.classList.toggle("future", j > i);
      li.setAttribute("aria-current", j === i ? "step" : "false");
    });
    const li = all[i];
    li.scrollIntoView({block: "nearest", behavior: reduceMotion.matches ? "auto" : "smooth"});
    highlight(li);
    counter();
    if (withInspector) inspect(li);
  }

  function highlight(li) {
    const svg = state.panel.querySelector("svg.topology");
    if (!svg) return;
    svg.querySelectorAll(".lit, .active").forEach((el) => el.classList.remove("lit", "active"));
    for (const id of [li.dataset.src, li.dataset.dst]) {
      if (id) { const n = svg.querySelector(`#node-${CSS.escape(id)}`); if (n) n.classList.add("lit", "active"); }
    }
    const path = li.dataset.link && svg.querySelector(`#link-${CSS.escape(li.dataset.link)}`);
    if (!path) return;
    path.classList.add("lit");
    if (!reduceMotion.matches) animatePacket(svg, path, li.dataset.dir === "back", li.dataset.kind);
  }

  function animatePacket(svg, path, reverse, kind) {
    if (state.anim) cancelAnimationFrame(state.anim);
    let dot = svg.querySelector("circle.packet");
    if (!dot) {
      dot = document.createElementNS("http://www.w3.org/2000/svg", "circle");
      dot.setAttribute("r", "9");
      dot.setAttribute("class", "packet");
      svg.appendChild(dot);
    }
    dot.setAttribute("data-kind", kind || "");
    const len = path.getTotalLength();
    const duration = (BASE_MS * 0.85) / state.speed;
    const start = performance.now();
    const frame = (now) => {
      const p = Math.min(1, (now - start) / duration);
      const pt = path.getPointAtLength(len * (reverse ? 1 - p : p));
      dot.setAttribute("cx", pt.x);
      dot.setAttribute("cy", pt.y);
      if (p < 1) state.anim = requestAnimationFrame(frame);
    };
    state.anim = requestAnimationFrame(frame);
  }

  function inspect(li) {
    if (!li || !li.dataset.inspect || !window.htmx) return;
    if (state.inspected === li.dataset.inspect) return;
    state.inspected = li.dataset.inspect;
    htmx.ajax("GET", li.dataset.inspect, {target: "#inspector", swap: "innerHTML"});
  }

  document.addEventListener("keydown", (e) => {
    if (!state || e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.target.closest("input, textarea, select, [contenteditable]")) return;
    const speeds = [0.25, 0.5, 1, 2, 4];
    const sel = state.panel.querySelector("[data-control=speed]");
    const keys = {
      " ": togglePlay, "k": togglePlay, "ArrowLeft": () => step(-1), "ArrowRight": () => step(1),
      "Home": () => { halt(); show(0, true); }, "End": () => { halt(); show(steps().length - 1, true); },
      "+": () => { sel.value = speeds[Math.min(speeds.indexOf(state.speed) + 1, 4)]; sel.dispatchEvent(new Event("change")); },
      "-": () => { sel.value = speeds[Math.max(speeds.indexOf(state.speed) - 1, 0)]; sel.dispatchEvent(new Event("change")); },
    };
    if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
  });

  document.addEventListener("click", (e) => {
    const chip = e.target.closest(".suggestions .chip");
    if (!chip) return;
    const input = document.getElementById("walk-url");
    input.value = chip.dataset.url;
    input.form.requestSubmit();
  });

  function boot() { init(document.querySelector(".walk-panel")); }
  document.addEventListener("DOMContentLoaded", boot);
  document.addEventListener("htmx:afterSettle", (e) => {
    const panel = e.target.querySelector ? e.target.querySelector(".walk-panel") : null;
    if (panel) { if (state) pause(); init(panel); }
  });
  window.NetLearnWalk = {state: () => state};
})();
