/* Push: show each alert once, open its page when tapped, subscribe again when renewed. */

self.addEventListener("push", (event) => {
  event.waitUntil(showAlert(event.data));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(openFromNotification(event.notification.data && event.notification.data.url));
});

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil(resubscribe(event.oldSubscription));
});

/* A declarative push message ({"web_push": 8030, "notification": {...}}) shown as the
 * browser would show it without a worker: the same title, body, tag (so a correction
 * replaces the original) and language; urgent calls stay until dismissed. Messages queued
 * before the declarative format had title, body, url and tag at the top level.
 * The server sends at least once, so one message (one notification.data.id) may come
 * twice: a repeat is not shown, also when the person has dismissed the first copy. */
async function showAlert(data) {
  let payload = {};
  try {
    payload = data ? data.json() : {};
  } catch (error) {
    payload = { body: data ? data.text() : "" };
  }
  const declared = payload.web_push === 8030 && payload.notification &&
    typeof payload.notification === "object";
  const note = declared ? payload.notification : payload;
  if (await alreadyShown(note.data && note.data.id)) {
    return;
  }
  const urgent = payload.urgent === true || note.requireInteraction === true;
  const refreshed = refreshBundle(true);
  await self.registration.showNotification(String(note.title || "Vigil"), {
    body: String(note.body || ""),
    tag: String(note.tag || "vigil"),
    lang: typeof note.lang === "string" ? note.lang : "",
    dir: ["ltr", "rtl", "auto"].includes(note.dir) ? note.dir : "auto",
    icon: ICON,
    badge: BADGE,
    // Urgent calls, and news that replaces a notification still on the screen (the day's
    // new listings in a state, hours after the first), sound again.
    renotify: Boolean(note.tag) && (urgent || note.renotify === true),
    requireInteraction: urgent,
    silent: note.silent === true,
    data: { url: sameOriginUrl(declared ? note.navigate : note.url) },
  });
  // The banners and the Alerts page in the offline copy now show this alert too.
  await refreshed;
}

/* The ids of the last SHOWN_IDS_KEPT messages shown, kept with the push preferences (which
 * outlive worker versions). Lookups run one after another in the order the pushes came,
 * so two copies arriving together cannot both find their id new. */
const SHOWN_IDS_KEY = "/__vigil/shown-push-ids";
const SHOWN_IDS_KEPT = 200;
let shownIdsTurn = Promise.resolve();

/* True if a message with this id was shown before; otherwise remembers it and says false.
 * A message without an id, or a device whose storage fails, shows every copy: a repeat
 * is better than a missed alert. */
function alreadyShown(id) {
  if (typeof id !== "string" || !id) {
    return Promise.resolve(false);
  }
  const answer = shownIdsTurn.then(async () => {
    const prefs = await caches.open(PREFS_CACHE);
    const saved = await prefs.match(SHOWN_IDS_KEY);
    const ids = saved ? await saved.json() : [];
    const known = Array.isArray(ids) ? ids : [];
    if (known.includes(id)) {
      return true;
    }
    await prefs.put(SHOWN_IDS_KEY, new Response(
      JSON.stringify(known.concat(id).slice(-SHOWN_IDS_KEPT)),
      { headers: { "Content-Type": "application/json" } }));
    return false;
  }).catch(() => false);
  shownIdsTurn = answer;
  return answer;
}

/* Only ever open this site: a payload URL from anywhere else falls back to the home page. */
function sameOriginUrl(raw) {
  try {
    const url = new URL(raw || "/", self.location.origin);
    return url.origin === self.location.origin ? url.href : self.location.origin + "/";
  } catch (error) {
    return self.location.origin + "/";
  }
}

/* Reuse an open Vigil window when there is one: bring it forward (the browser may refuse
 * focus) and send it to the alert's page; otherwise open a new window there. */
async function openFromNotification(href) {
  const target = sameOriginUrl(href);
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).origin === self.location.origin);
  if (open) {
    const client = await open.focus().catch(() => open);
    const navigated = typeof client.navigate === "function"
      ? await client.navigate(target).catch(() => null)
      : null;
    if (navigated) {
      return navigated;
    }
  }
  return self.clients.openWindow(target);
}

async function resubscribe(oldSubscription) {
  const prefs = await caches.open(PREFS_CACHE);
  const saved = await prefs.match(TOPICS_KEY);
  const topics = saved ? await saved.json() : null;
  const savedLang = await prefs.match(LANG_KEY);
  const lang = savedLang ? await savedLang.text() : "en";
  if (oldSubscription) {
    await deleteSubscription(oldSubscription.endpoint);
  }
  if (!topics || !topics.length) {
    return;
  }
  const keyResponse = await fetch("/api/v1/push/key");
  const { publicKey } = await keyResponse.json();
  const subscription = await self.registration.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: publicKey,
  });
  await fetch(SUBSCRIPTIONS_URL, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ subscription: subscription.toJSON(), topics, lang }),
  });
}
