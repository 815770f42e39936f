// In-person verification on a contact's card (the CSP forbids inline
// script): scan the QR code the contact's app shows, with this computer's
// camera or from a photo, and submit what it holds to the same form as a
// number typed by hand. The server (the agent) compares it with the
// safety number of the pair; nothing is decided here.
//
// The decoder (jsqr.js, vendored: see VENDORED.md) is loaded only when a
// scan starts.
(function () {
  "use strict";
  var section = document.getElementById("verify");
  var form = document.getElementById("verify-form");
  var field = document.getElementById("sn");
  var start = document.getElementById("scan-start");
  var photo = document.getElementById("scan-photo");
  var photoLabel = document.getElementById("scan-photo-label");
  var video = document.getElementById("scan-video");
  var status = document.getElementById("scan-status");
  if (!section || !form || !field || !start || !photo || !video || !status) {
    return;
  }
  var PREFIX = "liaison-safety-number:";
  var canvas = document.createElement("canvas");
  var stream = null;

  function say(key) {
    status.textContent = section.getAttribute("data-" + key) || "";
  }

  function decoder() {
    if (window.jsQR) {
      return Promise.resolve(window.jsQR);
    }
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = "/static/jsqr.js";
      s.onload = function () {
        resolve(window.jsQR);
      };
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }

  // What a picture holds: the text of a QR code, or null.
  function read(source, width, height, jsQR) {
    if (!width || !height) {
      return null;
    }
    canvas.width = width;
    canvas.height = height;
    var g = canvas.getContext("2d", { willReadFrequently: true });
    g.drawImage(source, 0, 0, width, height);
    var found = jsQR(g.getImageData(0, 0, width, height).data, width, height);
    return found ? found.data : null;
  }

  function stop() {
    if (stream) {
      stream.getTracks().forEach(function (t) {
        t.stop();
      });
      stream = null;
    }
    video.hidden = true;
  }

  // A code was read: one of ours goes to the server to compare; another
  // is named as such and scanning goes on.
  function found(text) {
    if (text.indexOf(PREFIX) !== 0) {
      say("not-ours");
      return false;
    }
    stop();
    field.value = text;
    form.submit();
    return true;
  }

  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    start.hidden = false;
  }
  photo.hidden = false;
  if (photoLabel) {
    photoLabel.hidden = false;
  }

  start.addEventListener("click", function () {
    decoder().then(function (jsQR) {
      return navigator.mediaDevices
        .getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          video.hidden = false;
          say("scanning");
          return video.play().then(function () {
            function tick() {
              if (!stream) {
                return;
              }
              var text = read(video, video.videoWidth, video.videoHeight, jsQR);
              if (!(text && found(text))) {
                window.setTimeout(tick, 200);
              }
            }
            tick();
          });
        });
    }).catch(function () {
      stop();
      say("camera-failed");
    });
  });

  photo.addEventListener("change", function () {
    var file = photo.files && photo.files[0];
    if (!file) {
      return;
    }
    decoder().then(function (jsQR) {
      return window.createImageBitmap(file).then(function (img) {
        var text = read(img, img.width, img.height, jsQR);
        if (!text) {
          say("no-code");
        } else {
          found(text);
        }
      });
    }).catch(function () {
      say("no-code");
    });
  });
})();
