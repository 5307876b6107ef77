// Browser push: <button data-webpush data-key="VAPID public key" data-url="subscribe URL" data-done="…" data-denied="…">
// registers the service worker (/sw.js), asks the browser's permission, subscribes with the server's VAPID key and
// sends the subscription to Trendy (with the CSRF token). The page then reloads to show the new channel.
(function () {
  "use strict";

  function urlBase64ToBytes(text) {
    var padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes;
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return match ? decodeURIComponent(match[1]) : input ? input.value : "";
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-webpush]");
    if (!button) {
      return;
    }
    var status = document.getElementById(button.dataset.status || "webpush-status");
    function say(text) {
      if (status) {
        status.textContent = text;
      }
    }
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      say(button.dataset.unsupported || "");
      return;
    }
    button.disabled = true;
    navigator.serviceWorker
      .register("/sw.js", { scope: "/" })
      .then(function () {
        return navigator.serviceWorker.ready;
      })
      .then(function (registration) {
        return registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: urlBase64ToBytes(button.dataset.key),
        });
      })
      .then(function (subscription) {
        return fetch(button.dataset.url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
          body: JSON.stringify(subscription.toJSON()),
        });
      })
      .then(function (response) {
        if (!response.ok) {
          return response.json().then(function (body) {
            throw new Error(body.error || response.statusText);
          });
        }
        say(button.dataset.done || "");
        window.location.reload();
      })
      .catch(function (error) {
        button.disabled = false;
        say(Notification && Notification.permission === "denied" ? button.dataset.denied || "" : String(error.message || error));
      });
  });
})();
