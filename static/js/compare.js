// Compare mode: after htmx swaps in new rows, move focus to them so keyboard and screen-reader
// users land on the result they asked for (the form itself works without JavaScript).
(function () {
  "use strict";
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "compare-results") {
      var heading = event.detail.target.querySelector("h2, [role=alert]");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus({ preventScroll: false });
      }
    }
  });
})();
