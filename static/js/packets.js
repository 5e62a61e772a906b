/* The packet view's bytes pane: hovering or focusing a field of the detail tree highlights its
 * bytes; hovering a byte highlights the innermost field that holds it (and clicking the byte
 * focuses that field). A click anywhere on a packet-list row opens that packet, as its number's
 * link does. Everything else is server-rendered HTML swapped by htmx. */
(function () {
  "use strict";

  function view(el) { return el && el.closest ? el.closest("#packet-view") : null; }

  function clear(root) {
    root.querySelectorAll(".pkt-bytes .hl, .pkt-field.hl-field").forEach((el) => el.classList.remove("hl", "hl-field"));
  }

  function light(root, field) {
    clear(root);
    if (!field) return;
    const start = parseInt(field.dataset.start, 10), end = parseInt(field.dataset.end, 10);
    if (isNaN(start) || isNaN(end)) return;
    field.classList.add("hl-field");
    root.querySelectorAll(".pkt-bytes [data-i]").forEach((b) => {
      const i = parseInt(b.dataset.i, 10);
      if (i >= start && i < end) b.classList.add("hl");
    });
  }

  /** The smallest field whose byte range holds byte i. */
  function fieldAt(root, i) {
    let best = null, size = Infinity;
    root.querySelectorAll(".pkt-field[data-start]").forEach((f) => {
      const s = parseInt(f.dataset.start, 10), e = parseInt(f.dataset.end, 10);
      if (i >= s && i < e && e - s < size) { best = f; size = e - s; }
    });
    return best;
  }

  function onField(e) {
    const field = e.target.closest && e.target.closest(".pkt-field");
    const root = view(e.target);
    if (field && root) light(root, field);
  }
  document.addEventListener("mouseover", (e) => {
    const root = view(e.target);
    if (!root) return;
    const byte = e.target.closest(".pkt-bytes [data-i]");
    if (byte) { light(root, fieldAt(root, parseInt(byte.dataset.i, 10))); return; }
    onField(e);
  });
  document.addEventListener("focusin", onField);
  document.addEventListener("click", (e) => {
    const root = view(e.target);
    if (!root) return;
    const byte = e.target.closest(".pkt-bytes [data-i]");
    if (byte) {
      const field = fieldAt(root, parseInt(byte.dataset.i, 10));
      if (field) {
        const details = field.closest("details");
        if (details) details.open = true;
        field.focus();
      }
      return;
    }
    const row = e.target.closest(".pkt-row");
    if (row && !e.target.closest("a")) { const a = row.querySelector("a"); if (a) a.click(); }
  });
})();
