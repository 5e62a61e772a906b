/* Ordering questions: drag and drop (mouse, touch, pen) and keyboard reordering.
 *
 * Without this script the question is answered with one position <select> per item. The
 * script keeps those selects as the single source of truth: after every move it rewrites their
 * values from the list's order, so the server reads the same fields either way.
 * Keyboard: Tab to an item, Alt+ArrowUp / Alt+ArrowDown moves it (ArrowUp/Down alone moves
 * focus); every item also has visible "move up / move down" buttons. Moves are announced in a
 * polite live region.
 */
(function () {
  "use strict";

  function sync(list, moved) {
    var items = Array.prototype.slice.call(list.querySelectorAll(":scope > .q-order-item"));
    items.forEach(function (li, i) {
      var select = li.querySelector("select");
      if (select) select.value = String(i + 1);
    });
    if (moved) {
      var status = list.parentNode.querySelector("[data-ordering-status]");
      var text = (list.dataset.labelMoved || "{item}: {position}/{total}")
        .replace("{item}", moved.querySelector(".q-order-text").textContent.trim())
        .replace("{position}", String(items.indexOf(moved) + 1))
        .replace("{total}", String(items.length));
      if (status) status.textContent = text;
    }
  }

  function move(list, li, delta) {
    if (delta < 0 && li.previousElementSibling) list.insertBefore(li, li.previousElementSibling);
    else if (delta > 0 && li.nextElementSibling) list.insertBefore(li.nextElementSibling, li);
    else return;
    sync(list, li);
  }

  function button(label, text, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.addEventListener("click", onClick);
    return b;
  }

  function enhanceItem(list, li) {
    li.tabIndex = 0;
    var name = li.querySelector(".q-order-text").textContent.trim();
    var box = document.createElement("span");
    box.className = "q-move";
    box.appendChild(button((list.dataset.labelUp || "Move up") + ": " + name, "↑", function () {
      move(list, li, -1); this.focus();
    }));
    box.appendChild(button((list.dataset.labelDown || "Move down") + ": " + name, "↓", function () {
      move(list, li, 1); this.focus();
    }));
    li.appendChild(box);
    li.addEventListener("keydown", function (e) {
      if (e.target !== li) return;
      if (e.key === "ArrowUp" || e.key === "ArrowDown") {
        e.preventDefault();
        if (e.altKey) {
          move(list, li, e.key === "ArrowUp" ? -1 : 1);
          li.focus();
        } else {
          var next = e.key === "ArrowUp" ? li.previousElementSibling : li.nextElementSibling;
          if (next) next.focus();
        }
      }
    });
    li.addEventListener("pointerdown", function (e) { startDrag(list, li, e); });
  }

  function startDrag(list, li, e) {
    if (e.button !== 0 || e.target.closest("button, select")) return;
    e.preventDefault();
    li.classList.add("is-dragging");
    if (li.setPointerCapture) { try { li.setPointerCapture(e.pointerId); } catch (err) { /* synthetic events */ } }
    function onMove(ev) {
      var siblings = Array.prototype.slice.call(list.children).filter(function (x) { return x !== li; });
      var before = null;
      for (var i = 0; i < siblings.length; i++) {
        var r = siblings[i].getBoundingClientRect();
        if (ev.clientY < r.top + r.height / 2) { before = siblings[i]; break; }
      }
      if (before !== li.nextElementSibling || (before === null && list.lastElementChild !== li)) {
        list.insertBefore(li, before);
      }
    }
    function onUp() {
      document.removeEventListener("pointermove", onMove);
      document.removeEventListener("pointerup", onUp);
      document.removeEventListener("pointercancel", onUp);
      li.classList.remove("is-dragging");
      sync(list, li);
      li.focus();
    }
    document.addEventListener("pointermove", onMove);
    document.addEventListener("pointerup", onUp);
    document.addEventListener("pointercancel", onUp);
  }

  function enhance(root) {
    var lists = (root || document).querySelectorAll("[data-ordering]:not([data-enhanced])");
    Array.prototype.forEach.call(lists, function (list) {
      list.setAttribute("data-enhanced", "");
      var card = list.closest(".q-card") || list.parentNode;
      card.classList.add("has-ordering-js");
      Array.prototype.forEach.call(list.querySelectorAll(":scope > .q-order-item"), function (li) {
        enhanceItem(list, li);
      });
      sync(list, null);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (e) { enhance(e.target); });
})();
