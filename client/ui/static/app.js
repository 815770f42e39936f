// The Liaison web app's own script (no inline script: the CSP forbids it).
//
// Live updates: the server's event stream only names what happened (a new
// message, receipts, ...), never a message's content or id; this asks htmx
// to refresh the parts of the page marked for it
// (hx-trigger="liaison-update from:body").
//
// Files: a form with files shows a progress bar while they are sent.
//
// Idle lock: after data-lock-after seconds without a key, click or touch,
// the page goes to the unlock page, which locks this browser's session, so
// nothing stays on screen. While the officer is active (typing a long
// reply), the server is told at most once a minute, so it does not lock
// the session under their hands.
(function () {
  "use strict";
  var body = document.body;
  if (!body || !body.hasAttribute("data-live")) {
    return;
  }
  function refresh() {
    if (window.htmx) {
      window.htmx.trigger(body, "liaison-update");
    }
  }
  // Desktop notifications: asked for only when the officer clicks the
  // button; the text is the server's "New message from NAME (AGENCY)",
  // never what the message says.
  var canNotify = "Notification" in window;
  var notifyButton = document.getElementById("notify-on");
  if (canNotify && notifyButton && window.Notification.permission === "default") {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", function () {
      window.Notification.requestPermission().then(function () {
        notifyButton.hidden = true;
      });
    });
  }
  function notify(e) {
    if (!canNotify || window.Notification.permission !== "granted") {
      return;
    }
    if (!e.data || e.data === "message" || document.hasFocus()) {
      return;
    }
    new window.Notification(e.data, { tag: "liaison-message" });
  }
  if (window.EventSource) {
    var source = new EventSource("/events");
    ["message", "receipts", "rejected", "lagged"].forEach(function (kind) {
      source.addEventListener(kind, refresh);
    });
    source.addEventListener("message", notify);
    // The relay went down or came back: refresh the banner saying so.
    source.addEventListener("link", function () {
      if (window.htmx) {
        window.htmx.trigger(body, "liaison-link");
      }
    });
    // Events sent while the stream was down are not replayed: after a
    // reconnection, refresh once.
    var lost = false;
    source.addEventListener("error", function () {
      lost = true;
    });
    source.addEventListener("open", function () {
      if (lost) {
        lost = false;
        refresh();
        if (window.htmx) {
          window.htmx.trigger(body, "liaison-link");
        }
      }
    });
  }
  // A form with files goes with a progress bar while the files reach the
  // app (then it encrypts and uploads them to the relay). The server
  // answers such a post with where to go next (X-Liaison-Location) rather
  // than a redirect the request would follow by itself.
  Array.prototype.forEach.call(
    document.querySelectorAll("form[enctype='multipart/form-data']"),
    function (form) {
      form.addEventListener("submit", function (ev) {
        var chosen = Array.prototype.some.call(
          form.querySelectorAll("input[type=file]"),
          function (input) { return input.files && input.files.length > 0; }
        );
        if (!chosen || !window.XMLHttpRequest || !window.FormData) {
          return;
        }
        ev.preventDefault();
        var bar = document.createElement("progress");
        bar.max = 100;
        bar.value = 0;
        bar.className = "upload-progress";
        var button = form.querySelector("button[type=submit]");
        if (button) {
          bar.setAttribute("aria-label", button.textContent);
          button.disabled = true;
          button.insertAdjacentElement("afterend", bar);
        } else {
          form.appendChild(bar);
        }
        var xhr = new XMLHttpRequest();
        xhr.open("POST", form.action);
        xhr.setRequestHeader("X-Liaison-Upload", "1");
        xhr.upload.addEventListener("progress", function (e) {
          if (e.lengthComputable) {
            bar.value = Math.round((100 * e.loaded) / e.total);
          }
        });
        xhr.addEventListener("load", function () {
          var next = xhr.getResponseHeader("X-Liaison-Location");
          if (next) {
            window.location.assign(next);
          } else {
            document.open();
            document.write(xhr.responseText);
            document.close();
          }
        });
        xhr.addEventListener("error", function () {
          bar.remove();
          if (button) {
            button.disabled = false;
          }
        });
        xhr.send(new FormData(form));
      });
    }
  );
  var lockAfter = parseInt(body.getAttribute("data-lock-after"), 10) * 1000;
  if (!(lockAfter >= 0)) {
    return;
  }
  var csrf = body.getAttribute("data-csrf") || "";
  var lastActive = Date.now();
  var lastPing = Date.now();
  function active() {
    lastActive = Date.now();
    if (lastActive - lastPing > 60000) {
      lastPing = lastActive;
      fetch("/alive", { method: "POST", headers: { "X-CSRF-Token": csrf } });
    }
  }
  ["keydown", "click", "touchstart", "input"].forEach(function (e) {
    document.addEventListener(e, active, true);
  });
  function check() {
    if (Date.now() - lastActive >= lockAfter) {
      window.location.assign("/unlock?idle=1");
    } else {
      window.setTimeout(check, Math.min(5000, lockAfter - (Date.now() - lastActive) + 50));
    }
  }
  window.setTimeout(check, Math.min(5000, lockAfter));
})();
