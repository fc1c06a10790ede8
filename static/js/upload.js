/*
 * Batch upload into a collection, one file per request, resumable.
 *
 * Progressive enhancement of form#batch-upload: without this script the form posts every file
 * in one request and the server answers with a result table. With it, each file (an image or a
 * zip archive) is sent on its own by XMLHttpRequest with "Accept: application/json"; the list shows
 * every file's state and error, an overall <progress> counts bytes sent (also while a file is on
 * its way) and a zip archive's entries as the server adds them, and
 * "Retry failed files" sends only the files that failed. The server returns the earlier
 * submission when the same bytes reach the same collection again, so a retry never duplicates.
 */
(function () {
  "use strict";

  var form = document.getElementById("batch-upload");
  if (!form || !window.fetch || !window.FormData) {
    return;
  }
  var input = form.querySelector('input[type="file"]');
  var note = form.querySelector('[name="note"]');
  var submitButton = form.querySelector('button[type="submit"]');
  var panel = document.getElementById("upload-progress");
  var list = document.getElementById("upload-files");
  var overall = document.getElementById("upload-overall");
  var summary = document.getElementById("upload-summary");
  var retryButton = document.getElementById("upload-retry");
  var maxRequestBytes = parseInt(form.getAttribute("data-max-request-bytes"), 10) || 0;
  var messagesNode = document.getElementById("upload-messages");
  var text = messagesNode ? JSON.parse(messagesNode.textContent) : {};
  var csrfInput = form.querySelector('input[name="csrfmiddlewaretoken"]');
  var statusUrl = form.getAttribute("data-status-url");

  var queue = []; // {file, item, state: queued|sending|ok|failed, note}
  var busy = false;

  function t(key, values) {
    var message = text[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      message = message.split("{" + name + "}").join(String(values[name]));
    });
    return message;
  }

  function megabytes(bytes) {
    return (bytes / 1e6).toFixed(1);
  }

  function size(bytes) {
    return bytes < 1e6 ? Math.max(1, Math.round(bytes / 1e3)) + " kB" : megabytes(bytes) + " MB";
  }

  function setState(entry, state, message, details) {
    entry.state = state;
    entry.item.className = "upload-" + state;
    entry.stateNode.textContent = t(state === "ok" ? "added" : state) + (message ? ": " : "");
    entry.messageNode.textContent = message || "";
    entry.detailsNode.textContent = "";
    (details || []).forEach(function (line) {
      var li = document.createElement("li");
      if (line.href) {
        var a = document.createElement("a");
        a.href = line.href;
        a.textContent = line.text;
        li.appendChild(a);
      } else {
        li.textContent = line.text;
      }
      entry.detailsNode.appendChild(li);
    });
  }

  function addFile(file) {
    var item = document.createElement("li");
    var name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name + " (" + size(file.size) + ") — ";
    var stateNode = document.createElement("span");
    stateNode.className = "upload-state";
    var messageNode = document.createElement("span");
    messageNode.className = "upload-message";
    var detailsNode = document.createElement("ul");
    item.appendChild(name);
    item.appendChild(stateNode);
    item.appendChild(messageNode);
    item.appendChild(detailsNode);
    list.appendChild(item);
    var entry = {
      file: file, item: item, stateNode: stateNode, messageNode: messageNode, detailsNode: detailsNode,
      note: note ? note.value : "", state: "queued", waits: 0
    };
    setState(entry, "queued");
    queue.push(entry);
  }

  function refreshProgress() {
    var total = 0, finished = 0, done = 0, failed = 0;
    queue.forEach(function (entry) {
      var size = Math.max(entry.file.size, 1);
      total += size;
      if (entry.state === "ok" || entry.state === "failed") {
        finished += size;
        done += 1;
      }
      if (entry.state === "failed") {
        failed += 1;
      }
      if (entry.state === "sending") {
        finished += Math.min(entry.sent || 0, size);
      }
    });
    overall.max = Math.max(total, 1);
    overall.value = finished;
    summary.textContent = t("summary", { done: done, total: queue.length, failed: failed });
    retryButton.hidden = busy || failed === 0;
    submitButton.disabled = busy;
  }

  // What the server said about one file, as {ok, message, details}.
  function describe(status, body) {
    var results = (body && body.results) || [];
    if (body && body.error && !results.length) {
      return { ok: false, message: body.error.message };
    }
    if (results.length === 1 && !results[0].archive) {
      var only = results[0];
      if (only.ok) {
        return {
          ok: true,
          message: only.already_submitted ? t("already") : "",
          details: [{ text: t("open_submission", { id: only.submission.id }), href: only.submission.url }]
        };
      }
      return { ok: false, message: only.error.message };
    }
    // A zip archive: one line per refused entry, a count of the rest.
    var accepted = results.filter(function (r) { return r.ok; }).length;
    var details = results.filter(function (r) { return !r.ok; }).map(function (r) {
      return { text: r.name + ": " + r.error.message };
    });
    if ((body.ignored || []).length) {
      details.push({ text: t("ignored", { count: body.ignored.length }) });
    }
    var message = t("archive", { accepted: accepted, total: results.length });
    if (results.length === 1 && !results[0].ok && results[0].archive === results[0].name) {
      message = results[0].error.message; // the whole archive was refused
    }
    return { ok: accepted > 0, message: message, details: details };
  }

  function send(entry) {
    if (maxRequestBytes && entry.file.size > maxRequestBytes - 16384) {
      setState(entry, "failed", t("too_large", {
        size: megabytes(entry.file.size), limit: megabytes(maxRequestBytes - 16384)
      }));
      return Promise.resolve();
    }
    var data = new FormData();
    data.append("csrfmiddlewaretoken", csrfInput ? csrfInput.value : "");
    data.append("note", entry.note);
    data.append("files", entry.file, entry.file.name);
    setState(entry, "sending");
    entry.sent = 0;
    refreshProgress();
    return post(entry, data).then(function (response) {
      entry.sent = 0;
      var type = response.type;
      if (response.status === 429 && entry.waits < 5) {
        // Too many requests: wait as long as the server asks, then send this file again.
        var seconds = Math.min(parseInt(response.retryAfter, 10) || 10, 120);
        entry.waits += 1;
        setState(entry, "sending", t("rate_limited", { seconds: seconds }));
        return new Promise(function (resolve) {
          window.setTimeout(function () {
            setState(entry, "queued");
            resolve();
          }, seconds * 1000);
        });
      }
      if (response.redirected || type.indexOf("application/json") === -1) {
        if (response.status === 413) {
          setState(entry, "failed", t("too_large", {
            size: megabytes(entry.file.size), limit: megabytes(maxRequestBytes)
          }));
        } else if (response.redirected || response.status === 403) {
          setState(entry, "failed", t("signed_out"));
        } else {
          setState(entry, "failed", t("server", { status: response.status }));
        }
        return;
      }
      var body;
      try {
        body = JSON.parse(response.text);
      } catch (error) {
        setState(entry, "failed", t("server", { status: response.status }));
        return;
      }
      var outcome = describe(response.status, body);
      setState(entry, outcome.ok ? "ok" : "failed", outcome.message, outcome.details);
    }, function () {
      entry.sent = 0;
      setState(entry, "failed", t("network"));
    });
  }

  // How many entries this person has in the collection (null when it cannot be read).
  function entryCount() {
    if (!statusUrl) {
      return Promise.resolve(null);
    }
    return fetch(statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) { return body ? body.entries : null; }, function () { return null; });
  }

  // One file by XMLHttpRequest, which (unlike fetch) reports the bytes sent: the bar moves while a
  // large archive uploads. Once its bytes are sent, a zip archive is unpacked on the server entry by
  // entry; the page then polls the collection's count to show the entries added so far.
  function post(entry, data) {
    var isArchive = /\.zip$/i.test(entry.file.name) || entry.file.type.indexOf("zip") !== -1;
    return (isArchive ? entryCount() : Promise.resolve(null)).then(function (before) {
      return new Promise(function (resolve, reject) {
        var xhr = new XMLHttpRequest();
        var poll = null;
        function stopPolling() {
          if (poll) {
            window.clearInterval(poll);
            poll = null;
          }
        }
        xhr.open("POST", form.action);
        xhr.setRequestHeader("Accept", "application/json");
        xhr.setRequestHeader("X-CSRFToken", csrfInput ? csrfInput.value : "");
        xhr.upload.addEventListener("progress", function (event) {
          if (!event.lengthComputable || entry.state !== "sending") {
            return;
          }
          entry.sent = entry.file.size * Math.min(event.loaded / Math.max(event.total, 1), 1);
          setState(entry, "sending", t("uploading", { percent: Math.floor(100 * event.loaded / Math.max(event.total, 1)) }));
          refreshProgress();
        });
        xhr.upload.addEventListener("load", function () {
          entry.sent = entry.file.size;
          refreshProgress();
          if (before === null) {
            return;
          }
          setState(entry, "sending", t("unpacking", { count: 0 }));
          poll = window.setInterval(function () {
            entryCount().then(function (now) {
              if (poll && now !== null && entry.state === "sending") {
                setState(entry, "sending", t("unpacking", { count: Math.max(now - before, 0) }));
              }
            });
          }, 700);
        });
        xhr.addEventListener("load", function () {
          stopPolling();
          resolve({
            status: xhr.status,
            type: xhr.getResponseHeader("Content-Type") || "",
            retryAfter: xhr.getResponseHeader("Retry-After"),
            redirected: !!xhr.responseURL && xhr.responseURL.split("#")[0] !== new URL(form.action, window.location.href).href,
            text: xhr.responseText
          });
        });
        xhr.addEventListener("error", function () { stopPolling(); reject(new Error("network")); });
        xhr.addEventListener("abort", function () { stopPolling(); reject(new Error("abort")); });
        xhr.send(data);
      });
    });
  }

  function run() {
    if (busy) {
      return;
    }
    busy = true;
    refreshProgress();
    var next = function () {
      var entry = queue.filter(function (e) { return e.state === "queued"; })[0];
      if (!entry) {
        busy = false;
        refreshProgress();
        return;
      }
      send(entry).then(function () {
        refreshProgress();
        next();
      });
    };
    next();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var files = Array.prototype.slice.call(input.files || []);
    if (!files.length) {
      input.setCustomValidity(t("none"));
      input.reportValidity();
      return;
    }
    panel.hidden = false;
    files.forEach(addFile);
    input.value = "";
    refreshProgress();
    run();
  });

  input.addEventListener("change", function () {
    input.setCustomValidity("");
  });

  retryButton.addEventListener("click", function () {
    queue.forEach(function (entry) {
      if (entry.state === "failed") {
        entry.waits = 0;
        setState(entry, "queued");
      }
    });
    run();
  });
})();
