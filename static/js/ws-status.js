// The lab's live sockets (a walk page, a lesson's "try it" panel), shared by every page that has one.
(function () {
  "use strict";

  // While a socket is closed, say so (politely: .ws-status is an aria-live region); clear it when
  // the htmx ws extension has reconnected. It reconnects by itself, with backoff, after an
  // abnormal close (1006: the worker holding the socket died; 1011-1013); after any other close it
  // does not, and the message says to reload. Once the result is on the page (no ".running" left)
  // a closed socket changes nothing, so nothing is shown.
  const RECONNECTS = [1006, 1011, 1012, 1013];
  function wsStatus(e) {
    const host = e.target.closest ? (e.target.closest("[ws-connect]") || e.target) : null;
    return host ? {host, region: host.querySelector(".ws-status")} : {};
  }
  document.addEventListener("htmx:wsClose", (e) => {
    const {host, region} = wsStatus(e);
    if (!region || !host.querySelector(".running")) return;
    const code = e.detail && e.detail.event ? e.detail.event.code : 1006;
    const reconnecting = RECONNECTS.includes(code);
    const text = reconnecting ? region.dataset.lost : region.dataset.closed;
    region.dataset.state = reconnecting ? "reconnecting" : "closed";
    if (region.textContent !== text) {
      const p = document.createElement("p");
      p.className = "banner banner-warn";
      p.textContent = text;
      region.replaceChildren(p);
    }
  });
  document.addEventListener("htmx:wsOpen", (e) => {
    const {region} = wsStatus(e);
    if (!region || !region.dataset.state) return;
    region.dataset.state = "open";
    region.replaceChildren();
  });

  // After a reconnect the server replays the live steps from the start, several per message:
  // append only the ones not shown yet instead of listing any twice (the final render replaces
  // the list anyway). The message is the server's own escaped HTML, parsed inert in a <template>.
  const LIVE_STEPS = '<ol id="walk-steps" hx-swap-oob="beforeend">';
  document.addEventListener("htmx:wsBeforeMessage", (e) => {
    const message = typeof e.detail.message === "string" ? e.detail.message.trim() : "";
    const list = document.getElementById("walk-steps");
    if (!message.startsWith(LIVE_STEPS) || !list) return;
    const parsed = document.createElement("template");
    parsed.innerHTML = message;
    const items = Array.from(parsed.content.firstElementChild.children);
    const shown = (li) => list.querySelector(`:scope > .walk-step[data-seq="${li.dataset.seq}"]`);
    const fresh = items.filter((li) => !shown(li));
    if (fresh.length === items.length) return;  // nothing repeated: htmx swaps it as usual
    e.preventDefault();
    fresh.forEach((li) => list.appendChild(li));
  });
})();
