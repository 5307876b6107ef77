// Trendy's service worker: shows the notifications the server pushes (payload: {title, body, url, severity}) and
// opens the notification's page when it is clicked. Served at /sw.js so that its scope is the whole site.
self.addEventListener("push", function (event) {
  var data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = { title: "Trendy", body: event.data ? event.data.text() : "" };
  }
  event.waitUntil(
    self.registration.showNotification(data.title || "Trendy", {
      body: data.body || "",
      data: { url: data.url || "/notifications/" },
      tag: data.severity === "critical" ? undefined : "trendy",
      renotify: data.severity !== "critical",
      requireInteraction: data.severity === "critical",
    })
  );
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || "/notifications/";
  event.waitUntil(self.clients.openWindow(url));
});
