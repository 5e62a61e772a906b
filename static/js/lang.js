// The language menu submits itself on change (an external script: the CSP forbids inline handlers).
document.addEventListener("change", function (event) {
  if (event.target && event.target.id === "lang-select" && event.target.form) event.target.form.submit();
});
