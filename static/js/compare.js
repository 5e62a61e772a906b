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
  // A refusal or an error (400: a URL outside the lab, 429: one comparison at a time, 404: a result
  // that expired, 503/504) carries its explanation for the results area: show it (htmx does not
  // swap error responses by default).
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "compare-results" && event.detail.xhr && event.detail.xhr.status >= 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
