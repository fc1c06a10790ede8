/* Result page: while the image is being checked, ask every second whether it is done and show
 * the result as soon as it is (without script, the page refreshes itself every 3 s), then the
 * heatmap, which is drawn after the verdict. The
 * heatmap's opacity slider. Progressive enhancement only. */
(function () {
  "use strict";

  function poll(marker, waitingFor) {
    var url = marker.getAttribute("data-status-url");
    var started = Date.now();
    // The verdict comes first: a pending page reloads when scoring is done; a scored page whose
    // heatmap is still being drawn reloads when the heatmap is ready.
    function done(body) {
      return waitingFor === "verdict" ? body.status !== "pending" : body.heatmap !== "pending";
    }
    function ask() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) {
          if (body && body.status && done(body)) window.location.reload();
          else window.setTimeout(ask, Date.now() - started < 60000 ? 1000 : 3000);
        })
        .catch(function () { window.setTimeout(ask, 3000); });
    }
    window.setTimeout(ask, 700);
  }

  function heatmapOpacity() {
    var layer = document.getElementById("heatmap-layer");
    var slider = document.getElementById("heatmap-opacity");
    var controls = document.getElementById("heatmap-controls");
    if (!layer || !slider || !controls) return;
    controls.hidden = false;
    function apply() { layer.style.opacity = String(slider.value / 100); }
    slider.addEventListener("input", apply);
    apply();
  }

  function start() {
    var marker = document.getElementById("result-page");
    if (marker && marker.getAttribute("data-status") === "pending") poll(marker, "verdict");
    else if (marker && marker.getAttribute("data-status") === "scored" && marker.getAttribute("data-heatmap") === "pending") poll(marker, "heatmap");
    heatmapOpacity();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
