// Live updates for the Liaison web app. The server's event stream only
// names what happened (a new message, receipts, ...), never a message's
// content or id; this script asks htmx to refresh the parts of the page
// marked for it (hx-trigger="liaison-update from:body").
(function () {
  "use strict";
  if (!window.EventSource || !document.body || !document.body.hasAttribute("data-live")) {
    return;
  }
  var source = new EventSource("/events");
  ["message", "receipts", "rejected", "lagged"].forEach(function (kind) {
    source.addEventListener(kind, function () {
      if (window.htmx) {
        window.htmx.trigger(document.body, "liaison-update");
      }
    });
  });
})();
