/* Review screen: zoom and pan, heatmap overlay, keyboard shortcuts.
 *
 * Progressive enhancement only: every action is a plain link or form that works without
 * this file. Choosing a decision by key selects it and focuses the note; it never saves.
 * Shortcuts are ignored while typing in a text field (Esc leaves the field).
 */
(function () {
  "use strict";

  var MIN_SCALE = 1;
  var MAX_SCALE = 16;
  var STEP = 1.25;
  var TOGGLE_SCALE = 2.5;

  function byId(id) {
    return document.getElementById(id);
  }

  function isTyping(target) {
    if (!target || target === document.body) return false;
    if (target.isContentEditable) return true;
    var tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    var type = (target.getAttribute("type") || "text").toLowerCase();
    return ["radio", "checkbox", "button", "submit", "reset", "range", "color", "file", "image"].indexOf(type) === -1;
  }

  function submitForm(form) {
    if (!form) return;
    if (typeof form.requestSubmit === "function") form.requestSubmit();
    else form.submit();
  }

  /* --- Zoom and pan -------------------------------------------------------------------- */

  function setUpViewer() {
    var viewer = byId("review-viewer");
    var stage = byId("review-stage");
    var image = byId("case-image");
    if (!viewer || !stage || !image) return null;

    var state = { scale: 1, x: 0, y: 0 };
    var tools = byId("review-tools");
    var level = byId("zoom-level");
    var zoomToggle = byId("zoom-toggle");
    var heatmapToggle = byId("heatmap-toggle");
    var actualPixels = byId("actual-pixels");
    var loupeToggle = byId("loupe-toggle");
    var opacity = byId("heatmap-opacity");
    var overlay = null;
    var loupe = null;
    var minScale = MIN_SCALE;

    viewer.classList.add("review-viewer-js");
    if (tools) tools.hidden = false;
    viewer.setAttribute("tabindex", "0");

    // The link to the original stays for the no-JS page; with JS a click must not navigate
    // (it would end every drag), the figcaption link still opens the original.
    var link = byId("case-image-link");
    if (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
      });
      link.setAttribute("tabindex", "-1");
    }

    // The image fills the canvas (small images are drawn larger, big ones smaller); the zoom
    // transform works on that fitted size, and 1:1 is the scale where one image pixel is one
    // screen pixel.
    // On a phone the canvas is as tall as the fitted image, not an empty checkerboard below it.
    var narrow = window.matchMedia ? window.matchMedia("(max-width: 900px)") : null;

    function fit() {
      var naturalWidth = image.naturalWidth;
      var naturalHeight = image.naturalHeight;
      if (!naturalWidth || !naturalHeight || !viewer.clientWidth) return;
      var shrink = narrow && narrow.matches;
      viewer.style.height = "";
      var ratio = Math.min(viewer.clientWidth / naturalWidth, viewer.clientHeight / naturalHeight);
      if (!isFinite(ratio) || ratio <= 0) ratio = 1;
      image.style.width = Math.floor(naturalWidth * ratio) + "px";
      image.style.height = Math.floor(naturalHeight * ratio) + "px";
      if (shrink && Math.floor(naturalHeight * ratio) < viewer.clientHeight) {
        viewer.style.height = Math.floor(naturalHeight * ratio) + (viewer.offsetHeight - viewer.clientHeight) + "px";
      }
      minScale = Math.min(MIN_SCALE, oneToOne());
    }

    function oneToOne() {
      return image.naturalWidth && image.offsetWidth ? image.naturalWidth / image.offsetWidth : 1;
    }

    function clamp() {
      var width = viewer.clientWidth;
      var height = viewer.clientHeight;
      var contentWidth = stage.offsetWidth * state.scale;
      var contentHeight = stage.offsetHeight * state.scale;
      var minX = Math.min(0, width - contentWidth);
      var minY = Math.min(0, height - contentHeight);
      state.x = Math.max(minX, Math.min(0, state.x));
      state.y = Math.max(minY, Math.min(0, state.y));
      if (state.scale <= 1) {
        state.x = 0;
        state.y = 0;
      }
    }

    function apply() {
      clamp();
      stage.style.transform = "translate(" + state.x + "px, " + state.y + "px) scale(" + state.scale + ")";
      viewer.classList.toggle("review-zoomed", state.scale > 1);
      // Show single pixels, not a blur, from 2 screen pixels per image pixel on.
      viewer.classList.toggle("review-pixels", state.scale / oneToOne() >= 2);
      var atActual = Math.abs(state.scale - oneToOne()) < 0.01;
      if (level) level.textContent = state.scale !== 1 ? Math.round((state.scale / oneToOne()) * 100) + "% " + (atActual ? "(1:1)" : "") : "";
      if (zoomToggle) zoomToggle.setAttribute("aria-pressed", state.scale > 1 ? "true" : "false");
      if (actualPixels) actualPixels.setAttribute("aria-pressed", atActual ? "true" : "false");
    }

    function zoomTo(scale, originX, originY) {
      scale = Math.max(minScale, Math.min(Math.max(MAX_SCALE, oneToOne()), scale));
      if (originX === undefined) {
        originX = viewer.clientWidth / 2;
        originY = viewer.clientHeight / 2;
      }
      // Keep the point under the origin where it is.
      var ratio = scale / state.scale;
      state.x = originX - (originX - state.x) * ratio;
      state.y = originY - (originY - state.y) * ratio;
      state.scale = scale;
      apply();
    }

    viewer.addEventListener(
      "wheel",
      function (event) {
        event.preventDefault();
        var rect = viewer.getBoundingClientRect();
        var factor = event.deltaY < 0 ? STEP : 1 / STEP;
        zoomTo(state.scale * factor, event.clientX - rect.left, event.clientY - rect.top);
      },
      { passive: false }
    );

    image.setAttribute("draggable", "false");
    viewer.addEventListener("dragstart", function (event) {
      event.preventDefault();
    });

    var drag = null;
    viewer.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      drag = { id: event.pointerId, x: event.clientX, y: event.clientY, startX: state.x, startY: state.y };
      viewer.setPointerCapture(event.pointerId);
      viewer.classList.add("review-dragging");
      event.preventDefault();
    });
    viewer.addEventListener("pointermove", function (event) {
      moveLoupe(event);
      if (!drag || event.pointerId !== drag.id) return;
      state.x = drag.startX + (event.clientX - drag.x);
      state.y = drag.startY + (event.clientY - drag.y);
      apply();
    });
    function endDrag(event) {
      if (!drag || event.pointerId !== drag.id) return;
      drag = null;
      viewer.classList.remove("review-dragging");
    }
    viewer.addEventListener("pointerup", endDrag);
    viewer.addEventListener("pointercancel", endDrag);
    viewer.addEventListener("dblclick", function (event) {
      var rect = viewer.getBoundingClientRect();
      if (state.scale > 1) zoomTo(1);
      else zoomTo(TOGGLE_SCALE, event.clientX - rect.left, event.clientY - rect.top);
    });

    // Heatmap: an overlay over the image (same transform); the <details> stays as the no-JS fallback.
    var heatmapSrc = viewer.getAttribute("data-heatmap-src");
    if (heatmapSrc) {
      overlay = document.createElement("img");
      overlay.src = heatmapSrc;
      overlay.alt = "";
      overlay.id = "heatmap-overlay";
      overlay.className = "review-heatmap-overlay";
      overlay.setAttribute("data-testid", "heatmap-overlay");
      overlay.hidden = true;
      stage.appendChild(overlay);
      if (opacity) {
        overlay.style.opacity = String(opacity.value / 100);
        opacity.addEventListener("input", function () {
          overlay.style.opacity = String(opacity.value / 100);
          if (overlay.hidden) toggleHeatmap();
        });
      }
      var fallback = byId("heatmap-fallback");
      if (fallback) fallback.hidden = true;
    }

    function toggleHeatmap() {
      if (!overlay) return;
      overlay.hidden = !overlay.hidden;
      if (heatmapToggle) heatmapToggle.setAttribute("aria-pressed", overlay.hidden ? "false" : "true");
      var legend = byId("heatmap-legend");
      if (legend) legend.hidden = overlay.hidden; // the colour scale only while colours are shown
    }

    function toggleActualPixels() {
      if (Math.abs(state.scale - oneToOne()) < 0.01) zoomTo(1);
      else zoomTo(oneToOne());
    }

    // The loupe: a round window under the pointer showing the original at twice its pixels.
    function moveLoupe(event) {
      if (!loupe || loupe.hidden) return;
      var rect = image.getBoundingClientRect();
      var box = viewer.getBoundingClientRect();
      var fx = (event.clientX - rect.left) / rect.width;
      var fy = (event.clientY - rect.top) / rect.height;
      var magnified = 2;
      var size = loupe.offsetWidth;
      loupe.style.left = event.clientX - box.left - size / 2 + "px";
      loupe.style.top = event.clientY - box.top - size / 2 + "px";
      loupe.style.backgroundSize = image.naturalWidth * magnified + "px " + image.naturalHeight * magnified + "px";
      loupe.style.backgroundPosition =
        -(fx * image.naturalWidth * magnified - size / 2) + "px " + -(fy * image.naturalHeight * magnified - size / 2) + "px";
    }

    function toggleLoupe() {
      if (!loupe) {
        loupe = document.createElement("div");
        loupe.className = "review-loupe";
        loupe.setAttribute("data-testid", "loupe");
        loupe.setAttribute("aria-hidden", "true");
        loupe.style.backgroundImage = 'url("' + image.currentSrc.replace(/"/g, "%22") + '")';
        loupe.hidden = true;
        viewer.appendChild(loupe);
      }
      loupe.hidden = !loupe.hidden;
      if (loupeToggle) loupeToggle.setAttribute("aria-pressed", loupe.hidden ? "false" : "true");
    }

    function toggleZoom() {
      if (state.scale > 1) zoomTo(1);
      else zoomTo(TOGGLE_SCALE);
    }

    if (tools) {
      tools.addEventListener("click", function (event) {
        var button = event.target.closest("button");
        if (!button) return;
        var action = button.getAttribute("data-zoom");
        if (action === "in") zoomTo(state.scale * STEP);
        else if (action === "out") zoomTo(state.scale / STEP);
        else if (action === "reset") zoomTo(1);
        else if (button === zoomToggle) toggleZoom();
        else if (button === heatmapToggle) toggleHeatmap();
        else if (button === actualPixels) toggleActualPixels();
        else if (button === loupeToggle) toggleLoupe();
      });
    }
    function refit() {
      fit();
      apply();
    }
    window.addEventListener("resize", refit);
    if (image.complete) refit();
    else image.addEventListener("load", refit);

    return {
      zoomIn: function () { zoomTo(state.scale * STEP); },
      zoomOut: function () { zoomTo(state.scale / STEP); },
      reset: function () { zoomTo(1); },
      toggleZoom: toggleZoom,
      toggleHeatmap: toggleHeatmap,
      toggleActualPixels: toggleActualPixels,
      toggleLoupe: toggleLoupe,
    };
  }

  /* --- Keyboard shortcuts -------------------------------------------------------------- */

  function setUpShortcuts(viewer) {
    var decisionForm = byId("decision-form");
    var note = byId("decision-note");
    var help = byId("shortcut-help");
    var decisionKeys = { a: "decision-ai", h: "decision-human", u: "decision-unsure" };

    function chooseDecision(id) {
      var radio = byId(id);
      if (!radio) return false;
      radio.checked = true;
      radio.dispatchEvent(new Event("change", { bubbles: true }));
      if (note) note.focus();
      return true;
    }

    function toggleReason(digit) {
      if (!decisionForm) return false;
      var boxes = decisionForm.querySelectorAll('input[type="checkbox"][name="reason_codes"]');
      var box = boxes[digit - 1];
      if (!box) return false;
      box.checked = !box.checked;
      return true;
    }

    function decisionChosen() {
      return !!(decisionForm && decisionForm.querySelector('input[name="decision"]:checked'));
    }

    function follow(id) {
      var link = byId(id);
      if (!link) return false;
      window.location.assign(link.href);
      return true;
    }

    function submitById(id) {
      var form = byId(id);
      if (!form) return false;
      submitForm(form);
      return true;
    }

    function toggleHelp() {
      if (!help) return false;
      var open = help.classList.toggle("review-shortcuts-open");
      if (open) {
        help.setAttribute("tabindex", "-1");
        help.focus();
      }
      return true;
    }

    document.addEventListener("keydown", function (event) {
      var target = event.target;
      // Ctrl/Cmd+Enter saves the decision from anywhere in the form, the note included.
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        if (decisionForm && (decisionForm.contains(target) || !isTyping(target))) {
          event.preventDefault();
          submitForm(decisionForm);
        }
        return;
      }
      if (event.key === "Escape") {
        if (isTyping(target)) target.blur();
        if (help) help.classList.remove("review-shortcuts-open");
        return;
      }
      if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
      if (isTyping(target)) return;

      var handled = false;
      var key = event.key;
      if (key === "Enter") {
        // Enter outside text fields saves only once a decision is chosen, and never from a
        // focused button or link (those do their own thing).
        var tag = target && target.tagName;
        if (tag !== "BUTTON" && tag !== "A" && decisionChosen()) {
          submitForm(decisionForm);
          handled = true;
        }
      } else if (decisionKeys[key]) {
        handled = chooseDecision(decisionKeys[key]);
      } else if (/^[1-9]$/.test(key)) {
        handled = toggleReason(parseInt(key, 10));
      } else if (key === "s") {
        handled = submitById("skip-form");
      } else if (key === "r") {
        handled = submitById("release-form");
      } else if (key === "n") {
        handled = submitById("claim-next-form") || follow("continue-case");
      } else if (key === "[" || key === "p") {
        handled = follow("history-prev");
      } else if (key === "]") {
        handled = follow("history-next");
      } else if (key === "z" && viewer) {
        viewer.toggleZoom();
        handled = true;
      } else if ((key === "+" || key === "=") && viewer) {
        viewer.zoomIn();
        handled = true;
      } else if ((key === "-" || key === "_") && viewer) {
        viewer.zoomOut();
        handled = true;
      } else if (key === "0" && viewer) {
        viewer.reset();
        handled = true;
      } else if (key === "o" && viewer) {
        viewer.toggleActualPixels();
        handled = true;
      } else if (key === "l" && viewer) {
        viewer.toggleLoupe();
        handled = true;
      } else if (key === "m" && viewer) {
        viewer.toggleHeatmap();
        handled = true;
      } else if (key === "?") {
        handled = toggleHelp();
      }
      if (handled) event.preventDefault();
    });
    // Marks the page as listening, so nothing (a fast hand or a browser test) types into a page
    // whose shortcuts are not there yet.
    document.documentElement.setAttribute("data-shortcuts-ready", "true");
  }

  function start() {
    setUpShortcuts(setUpViewer());
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
