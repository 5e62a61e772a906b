// The language menu submits itself on change (an external script: the CSP forbids inline handlers).
document.addEventListener("change", function (event) {
  if (event.target && event.target.id === "lang-select" && event.target.form) event.target.form.submit();
});

// A 507 (the server's storage is full) carries a friendly message with HX-Retarget/HX-Reswap:
// htmx does not swap error responses by default, so let this one through (see core/errors.py).
document.addEventListener("htmx:beforeSwap", function (event) {
  if (event.detail.xhr && event.detail.xhr.status === 507) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
