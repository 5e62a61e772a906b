/* Walk playback: steps arrive (live over the WebSocket, or rendered for a replay) as <li>s in
 * #walk-steps; this script plays them back, moving a packet along the diagram's link for each,
 * with play/pause, step, chapters, speed, scrubber, "wait for me" and keyboard shortcuts.
 *
 * Pace: the walk's own time scale, compressed so a whole walk plays in at most PLAY_BUDGET_MS at
 * 1× (each step gets a readable floor, the rest is shared in proportion to the real gaps: a slow
 * backend still looks slow). Steps folded into a closed <details> are skipped.
 * Watchable: the list scrolls inside its own box (never the page), the inspector follows playback
 * (one request at a time) and, on a phone, opens as a sheet over the list when a step is chosen.
 * Keyboard: shortcuts only when focus is not on a control, and they can be switched off (WCAG
 * 2.1.1 / 2.1.4). Reduced motion: no moving packet, no auto-play, no auto-scroll.
 * Plain JS, no dependencies but htmx. */
(function () {
  "use strict";
  const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  const phone = window.matchMedia("(max-width: 979px)");
  const PLAY_BUDGET_MS = 9000;   // a whole walk at 1×
  const FLOOR_MS = 140;          // the shortest a step stays current at 1×
  const LIVE_MS = 200;           // steps of a live walk have no times yet
  const INSPECT_EVERY_MS = 700;  // the inspector follows playback at most this often
  let state = null;

  function init(panel) {
    if (!panel || panel.dataset.walkReady || !panel.querySelector(".walk-controls")) return;
    panel.dataset.walkReady = "1";
    state = {panel, index: -1, playing: false, speed: 1, slowmo: false, shortcuts: true, timer: null, anim: null,
             inspected: null, inflight: false, lastInspect: 0};
    const controls = panel.querySelector(".walk-controls");
    controls.addEventListener("click", (e) => {
      const btn = e.target.closest("button[data-action]");
      if (!btn) return;
      ({play: togglePlay, back: () => step(-1), forward: () => step(1),
        "next-chapter": () => chapter(1), "prev-chapter": () => chapter(-1)})[btn.dataset.action]();
    });
    controls.querySelector("[data-control=speed]").addEventListener("change", (e) => { state.speed = parseFloat(e.target.value) || 1; });
    controls.querySelector("[data-control=slowmo]").addEventListener("change", (e) => { state.slowmo = e.target.checked; });
    controls.querySelector("[data-control=shortcuts]").addEventListener("change", (e) => { state.shortcuts = e.target.checked; });
    controls.querySelector("[data-control=scrubber]").addEventListener("input", (e) => { halt(); show(parseInt(e.target.value, 10), true); });
    panel.addEventListener("click", (e) => {
      if (e.target.closest("[data-action=close-sheet]")) { closeSheet(); return; }
      const li = e.target.closest(".walk-step");
      if (!li || e.target.closest("a, summary") || !li.closest("#walk-steps")) return;
      halt();
      const i = steps().indexOf(li);
      if (i >= 0) show(i, true, true);
    });
    panel.addEventListener("toggle", () => { if (state) refresh(); }, true);  // a fold opened or closed
    // Observe the panel, not #walk-result: the final message replaces #walk-result itself (OOB swap).
    // React only to new steps: the counter and scrubber also change the panel's DOM.
    const addsSteps = (m) => Array.from(m.addedNodes).some((n) => n.nodeType === 1 &&
      (n.matches(".walk-step, #walk-steps, #walk-result") || n.querySelector(".walk-step")));
    new MutationObserver((mutations) => {
      if (!mutations.some(addsSteps)) return;
      refresh();
      if (!state.playing && state.index < 0 && !reduceMotion.matches) play();
    }).observe(panel, {childList: true, subtree: true});
    refresh();
    if (!reduceMotion.matches) play();
  }

  /** The steps playback visits: every row but those inside a closed fold. */
  function steps() {
    if (!state) return [];
    return Array.from(state.panel.querySelectorAll("#walk-steps .walk-step"))
      .filter((li) => !li.closest("details:not([open])"));
  }

  /** Milliseconds each step stays current at 1× (see the pace note at the top). */
  function schedule() {
    const all = steps();
    const times = all.map((li) => parseFloat(li.dataset.t) || 0);
    const real = times.length ? times[times.length - 1] - times[0] : 0;
    if (!(real > 0)) return all.map(() => LIVE_MS);
    const budget = Math.min(PLAY_BUDGET_MS, all.length * 650);
    const floor = Math.min(FLOOR_MS, budget / all.length / 2);
    const spread = budget - floor * all.length;
    return all.map((li, i) => floor + (i + 1 < all.length ? spread * Math.max(0, times[i + 1] - times[i]) / real : 0));
  }

  function refresh() {
    const all = steps();
    const scrub = state.panel.querySelector("[data-control=scrubber]");
    scrub.max = Math.max(0, all.length - 1);
    state.delays = schedule();
    if (!all.length) {  // a result without steps (a walk that failed, e.g. worker_lost): nothing is lit
      state.index = -1;
      const svg = state.panel.querySelector("svg.topology");
      if (svg) svg.querySelectorAll(".lit, .active, circle.packet").forEach((el) =>
        el.matches("circle.packet") ? el.remove() : el.classList.remove("lit", "active"));
    }
    // The final render replaces the live list: keep the learner's place in the new one.
    if (state.index >= all.length) state.index = all.length - 1;
    mark(all);
    counter();
  }

  function mark(all) {
    const current = all[state.index];
    state.panel.querySelectorAll("#walk-steps .walk-step").forEach((li) => {
      const j = all.indexOf(li);
      li.classList.toggle("current", li === current);
      li.classList.toggle("future", j > state.index);
      if (li === current) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
    });
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
    if (state) inspect(steps()[state.index], true);
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
    state.timer = setTimeout(tick, delay(state.index));
  }

  function delay(i) { return ((state.delays && state.delays[i]) || LIVE_MS) / state.speed; }

  function step(delta) { halt(); show(Math.min(Math.max(state.index + delta, 0), steps().length - 1), true); }

  /** Jump to the first step of the next (or this/previous) chapter. */
  function chapter(direction) {
    halt();
    const all = steps();
    const phase = (i) => all[i] && all[i].dataset.phase;
    let i = Math.max(state.index, 0);
    if (direction > 0) {
      while (i < all.length - 1 && phase(i) === phase(Math.max(state.index, 0))) i++;
    } else {
      const here = phase(i);
      while (i > 0 && phase(i - 1) === here) i--;          // start of this chapter
      if (i === Math.max(state.index, 0) && i > 0) {        // already there: the previous one
        const prev = phase(i - 1);
        i--;
        while (i > 0 && phase(i - 1) === prev) i--;
      }
    }
    show(i, true);
  }

  function show(i, withInspector, chosen) {
    const all = steps();
    if (i < 0 || i >= all.length) return;
    state.index = i;
    mark(all);
    const li = all[i];
    if (withInspector || !reduceMotion.matches) follow(li);
    highlight(li);
    counter();
    if (withInspector) inspect(li, true);
    else if (state.playing) inspect(li, false);
    if (chosen && phone.matches) openSheet();
  }

  /** Bring the current row into view without moving the page: scroll the list's own box; on a
   * phone (the page scrolls) keep the row between the sticky diagram and the inspector sheet. */
  function follow(li) {
    const list = state.panel.querySelector("#walk-steps");
    if (!list) return;
    if (list.scrollHeight > list.clientHeight + 1 && getComputedStyle(list).overflowY !== "visible") {
      const top = li.offsetTop - list.offsetTop, bottom = top + li.offsetHeight;
      if (top < list.scrollTop) list.scrollTop = top - 8;
      else if (bottom > list.scrollTop + list.clientHeight) list.scrollTop = bottom - list.clientHeight + 8;
      return;
    }
    const stage = state.panel.querySelector(".walk-stage");
    const sheet = state.panel.querySelector("[data-sheet]");
    const above = stage && getComputedStyle(stage).position === "sticky" ? stage.getBoundingClientRect().bottom : 0;
    const below = window.innerHeight - (sheet && sheet.classList.contains("open") ? sheet.offsetHeight : 0);
    const rect = li.getBoundingClientRect();
    if (rect.top < above) window.scrollBy(0, rect.top - above - 8);
    else if (rect.bottom > below) window.scrollBy(0, rect.bottom - below + 8);
  }

  function openSheet() {
    const sheet = state.panel.querySelector("[data-sheet]");
    if (!sheet || sheet.classList.contains("open")) return;
    sheet.classList.add("open");
    const li = steps()[state.index];
    if (li) requestAnimationFrame(() => follow(li));
  }

  function closeSheet() {
    const sheet = state.panel.querySelector("[data-sheet]");
    if (!sheet) return;
    sheet.classList.remove("open");
    const li = steps()[state.index];
    const btn = li && li.querySelector(".inspect-btn");
    if (btn) btn.focus();
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
      // Under the nodes: arriving, the packet slips behind its host's box instead of hiding its name.
      const firstNode = svg.querySelector("[id^='node-']");
      if (firstNode) firstNode.parentNode.insertBefore(dot, firstNode); else svg.appendChild(dot);
    }
    dot.setAttribute("data-kind", kind || "");
    const len = path.getTotalLength();
    const duration = Math.max(120, Math.min(600, delay(state.index) * 0.85));
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

  /** Load the inspector for a step. A chosen step always loads; during playback the inspector
   * follows at most every INSPECT_EVERY_MS and never with two requests in flight. */
  function inspect(li, chosen) {
    if (!li || !li.dataset.inspect) return;
    const url = li.dataset.inspect;
    if (state.inspected === url) return;
    const now = performance.now();
    if (!chosen && (state.inflight || now - state.lastInspect < INSPECT_EVERY_MS)) return;
    state.inspected = url;
    state.inflight = true;
    state.lastInspect = now;
    // fetch, not htmx.ajax: an answer that arrives after a newer choice is dropped, so the
    // inspector always shows the step chosen last.
    fetch(url, {headers: {"HX-Request": "true"}, credentials: "same-origin"})
      .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
      .then((html) => {
        if (state.inspected !== url) return;
        const target = state.panel.querySelector("#inspector");
        if (target) target.innerHTML = html;
      })
      .catch(() => { if (state.inspected === url) state.inspected = null; })
      .finally(() => { state.inflight = false; });
  }

  /** True when a key press belongs to a control (a button's Space, a select's arrows…). */
  function onControl(target) {
    return !!(target && target.closest && target.closest(
      "a[href], button, input, select, textarea, summary, [contenteditable], [role=button], [role=slider], [role=tab]"));
  }

  document.addEventListener("keydown", (e) => {
    if (!state || !state.shortcuts || e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
    if (onControl(e.target)) return;
    if (e.key === "Escape") { closeSheet(); return; }
    const speeds = [0.25, 0.5, 1, 2, 4];
    const sel = state.panel.querySelector("[data-control=speed]");
    const keys = {
      " ": togglePlay, "k": togglePlay, "ArrowLeft": () => step(-1), "ArrowRight": () => step(1),
      "PageDown": () => chapter(1), "PageUp": () => chapter(-1),
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
    if (panel) {
      if (state) halt();
      init(panel);
      // A walk started from the form: bring its panel (diagram, steps, inspector) into view once.
      if (panel.getBoundingClientRect().top > window.innerHeight / 3) panel.scrollIntoView({block: "start"});
    }
  });
  window.NetLearnWalk = {
    state: () => state,
    /** The planned length of a whole playback at 1×, in ms (tests read it; nothing waits on it). */
    plannedMs: () => (state && state.delays ? state.delays.reduce((a, b) => a + b, 0) : 0),
  };
})();
