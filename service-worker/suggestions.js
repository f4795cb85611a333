/* Suggestions written offline, sent later: on Background Sync or when a page comes online. */
/* The suggestion form (web/static/suggest.js) keeps submissions made offline in IndexedDB.
 * They go out on Background Sync, or when a page opens or comes back online (see the message
 * listener in sw.js). One send at a time, so a suggestion is not posted twice. A 2xx answer
 * leaves only a receipt (the title) on the device; a refusal (4xx) stops the sending and
 * keeps the server's reason, with the text for the form to offer back; a network failure, a
 * 5xx, 429 or "too fast" keeps the suggestion for the next try. */

const SUGGESTION_TIMEOUT_MS = 20000;
let sendingSuggestions = null;

self.addEventListener("sync", (event) => {
  if (event.tag === SUGGESTIONS_SYNC_TAG) {
    // Rejecting tells the browser to retry the sync later.
    event.waitUntil(sendSuggestions());
  }
});

/* Every page asks for a "refresh" when it opens online or comes back online (app.js), and
 * the suggestion form asks for "flush-suggestions": either way the message listener in
 * sw.js sends whatever waits. (A fetch listener here would never run: the one in sw.js,
 * joined before this part, answers navigations, and respondWith stops the event's
 * propagation.) */
function sendSuggestions() {
  if (!sendingSuggestions) {
    sendingSuggestions = sendQueuedSuggestions().finally(() => { sendingSuggestions = null; });
  }
  return sendingSuggestions;
}

async function sendQueuedSuggestions() {
  if (self.navigator.onLine === false) {
    throw new Error("offline");
  }
  const db = await openSuggestions();
  let keep = 0;
  let changed = false;
  try {
    const waiting = (await suggestionsRequest(db, "readonly", (store) => store.getAll()))
      .filter((item) => item.state === "queued");
    for (const item of waiting) {
      const outcome = await postSuggestion(item);
      if (outcome.keep) {
        keep += 1;
        continue;
      }
      const receipt = { id: item.id, title: item.title, created: item.created, at: Date.now() };
      // A refused suggestion keeps its text so the visitor can fix it and send it again.
      Object.assign(receipt, outcome.error
        ? { state: "failed", error: outcome.error, body: item.body } : { state: "sent" });
      await suggestionsRequest(db, "readwrite", (store) => store.put(receipt));
      changed = true;
    }
  } finally {
    db.close();
  }
  if (changed) {
    await tellClients({ type: "suggestions" });
  }
  if (keep) {
    throw new Error(`${keep} suggestion(s) still waiting`);
  }
}

async function postSuggestion(item) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), SUGGESTION_TIMEOUT_MS);
  let response;
  try {
    response = await fetch(item.action, {
      method: "POST",
      headers: { "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: item.body,
      credentials: "omit",
      signal: controller.signal,
    });
  } catch (error) {
    return { keep: true };
  } finally {
    clearTimeout(timer);
  }
  if (response.ok) {
    return {};
  }
  const data = await response.json().catch(() => ({}));
  if (response.status >= 500 || response.status === 429 || data.code === "too-fast") {
    return { keep: true };
  }
  return { error: String(data.error || `HTTP ${response.status}`) };
}

function suggestionsRequest(db, mode, fn) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(SUGGESTIONS_STORE, mode);
    const request = fn(tx.objectStore(SUGGESTIONS_STORE));
    tx.oncomplete = () => resolve(request.result);
    tx.onerror = () => reject(tx.error);
  });
}
