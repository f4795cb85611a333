/* Names the pages and the service worker share, the one way to open the suggestions store
 * and the one way to tell the server a push subscription has ended. The server writes this
 * file into service-worker/sw.js, web/static/alerts.js and web/static/suggest.js where each
 * says "vigil:shared-names", so a cache, key or store renamed (or a store's shape changed)
 * here changes for all of them. */
const PREFS_CACHE = "vigil-prefs"; // the push topics chosen on this device
const TOPICS_KEY = "/__vigil/push-topics";
const LANG_KEY = "/__vigil/push-lang"; // the worker re-subscribes in this language
const SUGGESTIONS_DB = "vigil-suggestions"; // suggestions waiting to be sent (IndexedDB)
const SUGGESTIONS_DB_VERSION = 1;
const SUGGESTIONS_STORE = "outbox";
const SUGGESTIONS_SYNC_TAG = "vigil-suggestions"; // Background Sync
const SUBSCRIPTIONS_URL = "/api/v1/push/subscriptions";

function openSuggestions() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(SUGGESTIONS_DB, SUGGESTIONS_DB_VERSION);
    request.onupgradeneeded = () => request.result.createObjectStore(SUGGESTIONS_STORE, { keyPath: "id" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/* Tells the server that the subscription to `endpoint` has ended, through `send` (fetch, or
 * a page's fetch with a time limit). Never fails: a subscription the server still holds is
 * removed when its push service refuses the next message. */
function deleteSubscription(endpoint, send = (url, init) => fetch(url, init)) {
  return send(SUBSCRIPTIONS_URL, {
    method: "DELETE",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ endpoint }),
  }).catch(() => null);
}
