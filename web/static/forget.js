/* Remove Vigil from this phone: what the service worker saved, this origin's storage, the
 * alerts subscription (the server is told when there is a connection) and the worker
 * itself. It works offline; online, the server's answer (Clear-Site-Data) also clears the
 * browser's own cache of Vigil's pages. Without this script the form posts to /forget. */
"use strict";

(function () {
  const form = document.getElementById("forget-form");
  if (!form || !("caches" in window)) return;
  const done = document.getElementById("forget-done");

  function within(ms, promise) {
    return Promise.race([promise, new Promise((resolve) => setTimeout(resolve, ms))]);
  }

  async function dropSubscription(registration) {
    const subscription = registration && registration.pushManager
      ? await registration.pushManager.getSubscription().catch(() => null) : null;
    if (!subscription) return;
    await within(3000, fetch("/api/v1/push/subscriptions", {
      method: "DELETE",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ endpoint: subscription.endpoint }),
    }).catch(() => null));
    await subscription.unsubscribe().catch(() => null);
  }

  async function forget() {
    const worker = navigator.serviceWorker;
    const registrations = worker ? await worker.getRegistrations().catch(() => []) : [];
    for (const registration of registrations) await dropSubscription(registration);
    for (const name of await caches.keys()) await caches.delete(name);
    localStorage.clear();
    sessionStorage.clear();
    if (window.indexedDB && indexedDB.databases) {
      for (const db of await indexedDB.databases().catch(() => [])) {
        if (db.name) indexedDB.deleteDatabase(db.name);
      }
    }
    for (const registration of registrations) await registration.unregister().catch(() => false);
    await within(3000, fetch("/forget", { method: "POST", cache: "no-store" }).catch(() => null));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!window.confirm(form.dataset.confirm)) return;
    form.querySelector("button").disabled = true;
    await forget();
    done.hidden = false;
    done.focus();
  });
})();
