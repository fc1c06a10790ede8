/* "Check this image": once pressed, the button says the image is being sent and cannot be
 * pressed twice; the server answers with the result page at once (scoring runs behind it). */
(function () {
  "use strict";
  function start() {
    var forms = document.querySelectorAll("form[data-submit-image]");
    Array.prototype.forEach.call(forms, function (form) {
      form.addEventListener("submit", function () {
        var button = form.querySelector("[data-testid=submit-image]");
        if (!button) return;
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
        button.textContent = button.getAttribute("data-sending") || button.textContent;
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
