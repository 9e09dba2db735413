/* Small behaviours that used to be inline event handlers (the Content-Security-Policy
   allows no inline script): <select data-autosubmit> submits its form on change,
   <button data-print> opens the print dialog. */
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) el.form.submit();
  });
  document.addEventListener("click", function (event) {
    var el = event.target;
    if (el && el.closest && el.closest("[data-print]")) window.print();
  });
})();
