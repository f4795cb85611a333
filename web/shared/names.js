/* Names the pages and the service worker share, and the one way to open the suggestions
 * store. The server writes this file into service-worker/sw.js, web/static/alerts.js and
 * web/static/suggest.js where each says "vigil:shared-names", so a cache, key or store
 * renamed (or a store's shape changed) here changes for all of them. */
const PREFS_CACHE = "vigil-prefs"; // the push topics chosen on this device
const TOPICS_KEY = "/__vigil/push-topics";
const LANG_KEY = "/__vigil/push-lang"; // the worker re-subscribes in this language
const SUGGESTIONS_DB = "vigil-suggestions"; // suggestions waiting to be sent (IndexedDB)
const SUGGESTIONS_DB_VERSION = 1;
const SUGGESTIONS_STORE = "outbox";
const SUGGESTIONS_SYNC_TAG = "vigil-suggestions"; // Background Sync

function openSuggestions() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(SUGGESTIONS_DB, SUGGESTIONS_DB_VERSION);
    request.onupgradeneeded = () => request.result.createObjectStore(SUGGESTIONS_STORE, { keyPath: "id" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}
