/* Vigil service worker: every page, legal contact and rights article kept offline.
 *
 * Caches carry the worker's version (set by the server from this file and the static
 * assets), so a new worker starts with new caches and deletes the old ones once its own
 * bundle is whole (reusing their unchanged copies meanwhile).
 * The install stores only the shell (the static assets every page needs), so the worker is
 * ready within seconds on a poor connection and never fails because one URL did. The rest
 * of the offline bundle downloads in the background after activation: the offline manifest
 * lists every URL with a content hash, only URLs whose hash differs from the stored copy
 * are fetched, so an interrupted download resumes where it stopped, and URLs that failed
 * are tried again after a pause.
 */
"use strict";

const VERSION = "__VERSION__";
const CONTENT_CACHE = `vigil-content-${VERSION}`;
const ICON = "__ICON__";
const BADGE = "__BADGE__";
/* vigil:shared-names */
const MANIFEST_URL = "/offline-manifest.json";
const SHELL = "__SHELL__";
const BUNDLE_KEY = "/__vigil/bundle";
const BUNDLE_RETRY_MS = [1000, 3000, 8000, 20000, 60000];
const NETWORK_TIMEOUT_MS = 800;
/* A page with no saved copy waits this much longer for the network before the offline
 * page is shown, which then keeps trying and offers the page when it arrives. */
const UNSAVED_TIMEOUT_MS = 3000;
const RECHECK_TIMEOUT_MS = 8000;
const REFRESH_INTERVAL_MS = 30 * 1000;
const CACHED_AT = "x-vigil-cached-at";
const HASH = "x-vigil-hash";
/* What this visitor follows, beyond what every visitor keeps: the states they chose or
 * looked at, the listings they opened or found near them, and the languages they read. */
const INTEREST_KEY = "/__vigil/interest";
const INTEREST_MAX = { states: 6, slugs: 60, langs: 2 };
/* Of a followed state's listings, the soonest this many (the manifest lists them soonest
 * first): a state with a hundred events on one day would otherwise fill the phone. */
const PAGES_PER_STATE = 30;
/* The site's languages other than English, each with its address prefix (/es, /zh-Hans). */
const PREFIXED = "__LANGS__";
const LANG_PREFIX = new RegExp(`^/(${PREFIXED.join("|")})(?=/|$)`);
const LISTING_PATH = new RegExp(`^(?:/(?:${PREFIXED.join("|")}))?/listings/([^/.]+)$`);
const INDEX_URL = "/offline-index.json";

let lastRefresh = 0;
let refreshing = null;
let refreshAgain = false;
let lastManifest = null;

self.addEventListener("install", (event) => {
  event.waitUntil(storeShell().then(() => self.skipWaiting()));
});

/* The bundle is not awaited here: fetch events wait for activation to finish. Pages ask
 * for a refresh once the worker is ready (app.js), which keeps the worker alive for it.
 * An older version's caches stay until this version's bundle is whole, so a phone that
 * updates on a poor connection keeps its offline pages meanwhile. */
self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim().then(() => {
    refreshBundle(true);
  }));
});

/* What the pages ask of the worker, one message type a case. */
self.addEventListener("message", (event) => {
  const data = event.data || {};
  switch (data.type) {
    case "refresh":
      // A page opened online or came back online (app.js): refresh the bundle, and send
      // the suggestions written offline (sendSuggestions).
      event.waitUntil(noteInterest(data).then(() => refreshBundle(true)));
      event.waitUntil(sendSuggestions().catch(() => {}));
      break;
    case "interest":
      event.waitUntil(noteInterest(data).then((changed) => (changed ? refreshBundle(true) : null)));
      break;
    case "served":
      if (event.source) {
        event.source.postMessage({ type: "served", url: data.url, ...howServed(event.source.id) });
      }
      break;
    case "recheck":
      if (typeof data.url === "string") {
        event.waitUntil(recheck(cacheKeyFor(new URL(data.url, self.location.origin).href)));
      }
      break;
    case "flush-suggestions":
      event.waitUntil(sendSuggestions().catch(() => {}));
      break;
    default:
      break;
  }
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) {
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(handleNavigation(event));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(cacheFirst(request));
  } else if (url.pathname === INDEX_URL ||
    (url.pathname.startsWith("/api/v1/") && !url.pathname.startsWith("/api/v1/push"))) {
    event.respondWith(networkFirst(request));
  }
});

/* --- push ----------------------------------------------------------------------- */

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

/* --- install and update ------------------------------------------------------------- */

/* Only the pages of the languages this visitor reads: theirs so far, or else those of the
 * pages open now (the one that installed the worker among them). */
async function fetchManifest() {
  const langs = (await readInterest()).langs;
  if (!langs.length) {
    const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    langs.push(...new Set(open.map((c) => langOf(new URL(c.url).pathname))));
  }
  const query = langs.length ? `?langs=${encodeURIComponent(langs.slice(0, 2).join(","))}` : "";
  const response = await fetch(MANIFEST_URL + query, { cache: "no-cache" });
  if (!response.ok) {
    throw new Error(`offline manifest: ${response.status}`);
  }
  return response.json();
}

/* Never rejects: a page works without its cached shell, and the bundle fetches whatever
 * is missing later. */
async function storeShell() {
  try {
    const cache = await caches.open(CONTENT_CACHE);
    await storeChanged(cache, { urls: SHELL }, false);
  } catch (error) {
    // Storage refused or the network is gone; the background download tries again.
  }
}

async function clearOldCaches() {
  const names = await caches.keys();
  await Promise.all(
    names.filter((name) => name.startsWith("vigil-") && ![CONTENT_CACHE, PREFS_CACHE].includes(name))
      .map((name) => caches.delete(name)),
  );
}

/* Fetch every URL whose hash differs from the cached copy; with prune, drop URLs no longer
 * listed. One failed URL stops nothing: it is reported, and the others are stored. */
async function storeChanged(cache, manifest, prune) {
  const wanted = manifest.urls;
  const existing = await cache.keys();
  const have = new Map();
  for (const request of existing) {
    const response = await cache.match(request);
    have.set(pathOf(request.url), response && response.headers.get(HASH));
  }
  const stale = Object.keys(wanted).filter((url) => have.get(url) !== wanted[url]);
  const changed = [];
  const failed = [];
  await inBatches(stale, 6, async (url) => {
    try {
      const kept = await keptElsewhere(url, wanted[url]);
      if (kept) {
        await cache.put(url, kept);
        changed.push(url);
        return;
      }
      // Static URLs carry their content hash: the copy the page just loaded will do.
      const mode = url.startsWith("/static/") ? "default" : "no-cache";
      const response = await fetch(url, { cache: mode });
      if (isCacheable(response)) {
        await cache.put(url, await stamp(response, wanted[url]));
        changed.push(url);
      } else {
        failed.push(url);
      }
    } catch (error) {
      failed.push(url);
    }
  });
  if (prune) {
    for (const url of have.keys()) {
      if (!(url in wanted) && !url.startsWith("/__vigil/")) {
        await cache.delete(url);
      }
    }
  }
  return { changed, failed };
}

/* A copy of url with this hash in an older version's cache: it need not come again. */
async function keptElsewhere(url, hash) {
  for (const name of await caches.keys()) {
    if (name === CONTENT_CACHE || !name.startsWith("vigil-content-")) continue;
    const response = await (await caches.open(name)).match(url);
    if (response && hash && response.headers.get(HASH) === hash) {
      return response;
    }
  }
  return null;
}

/* Compare the server's offline manifest with what is stored; fetch only what changed.
 * A forced refresh asked for while one runs goes again once it ends: the running one may
 * have read the manifest before the change the visitor is now looking at. */
function refreshBundle(force) {
  if (refreshing) {
    refreshAgain = refreshAgain || force;
    return refreshing;
  }
  const now = Date.now();
  if (!force && now - lastRefresh < REFRESH_INTERVAL_MS) {
    return Promise.resolve();
  }
  lastRefresh = now;
  refreshing = (async () => {
    let pauses = 0;
    do {
      refreshAgain = false;
      let complete = false;
      try {
        const manifest = lastManifest = await fetchManifest();
        const cache = await caches.open(CONTENT_CACHE);
        const urls = await chosenUrls(manifest);
        const { changed, failed } = await storeChanged(cache, { urls }, true);
        complete = failed.length === 0;
        if (complete) {
          await clearOldCaches();
        }
        await cache.put(BUNDLE_KEY, new Response(JSON.stringify({
          revision: manifest.revision, complete, missing: failed.length, at: Date.now(),
        }), { headers: { "Content-Type": "application/json" } }));
        await tellClients({ type: "bundle", changed, complete, at: Date.now() });
      } catch (error) {
        // Offline or lie-fi: keep what we have.
      }
      // Whatever failed is tried again after a pause, while the phone says it is online;
      // the next visit or push resumes it otherwise.
      if (!complete && !refreshAgain && pauses < BUNDLE_RETRY_MS.length &&
          self.navigator.onLine !== false) {
        await sleep(BUNDLE_RETRY_MS[pauses]);
        pauses += 1;
        refreshAgain = true;
      }
    } while (refreshAgain);
    refreshing = null;
  })();
  return refreshing;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/* --- strategies ------------------------------------------------------------------- */

/* Network with a short timeout; then the saved copy; then the offline page. A page that
 * came from the cache is refreshed in the background and the visitor is told. Whether a
 * page came from the cache because the network failed is kept for that page to ask
 * (howServed): the browser's navigator.onLine says true on lie-fi and behind a portal. */
async function handleNavigation(event) {
  const request = event.request;
  const key = cacheKeyFor(request.url);
  const network = fetch(request);
  const response = await withTimeout(network, NETWORK_TIMEOUT_MS).catch(() => null);
  if (response && (response.ok || response.status === 404)) {
    event.waitUntil(afterNetworkPage(key, response.clone()));
    return response;
  }
  const cached = await findCached(key);
  if (cached) {
    noteServedSaved(event.resultingClientId, Number(cached.headers.get(CACHED_AT)) || null);
    event.waitUntil(refreshInBackground(key, network, cached.clone()));
    return cached;
  }
  if (response) {
    return response;
  }
  const late = await withTimeout(network, UNSAVED_TIMEOUT_MS).catch(() => null);
  if (late) {
    return late;
  }
  noteServedSaved(event.resultingClientId, null);
  event.waitUntil(network.then(
    () => tellNetwork(true).then(() => tellClients({ type: "fresh", url: key })),
    () => tellNetwork(false)));
  return (await offlinePageFor(key)) || offlineFallback();
}

/* --- what the network did, told to the pages ---------------------------------------- */

/* Pages answered from the cache, by client id: when their copy was saved (null for the
 * offline page). Bounded: a page asks as soon as its script runs. */
const servedSaved = new Map();
const SERVED_SAVED_MAX = 32;
let networkUp = null;

function noteServedSaved(clientId, savedAt) {
  networkUp = false;
  if (!clientId) {
    return;
  }
  servedSaved.set(clientId, { savedAt });
  while (servedSaved.size > SERVED_SAVED_MAX) {
    servedSaved.delete(servedSaved.keys().next().value);
  }
}

function howServed(clientId) {
  const entry = servedSaved.get(clientId);
  return entry ? { offline: true, savedAt: entry.savedAt } : { offline: false };
}

/* Every page hears when a request went through after one failed, or failed after one
 * went through. */
async function tellNetwork(up) {
  if (networkUp === up) {
    return;
  }
  networkUp = up;
  await tellClients({ type: "network", up });
}

/* A page shown without a connection asks again now and then (it keeps its own pace): the
 * page itself is fetched, kept if it is kept, and the pages told when the network answers
 * again and whether the page differs from the copy shown. */
async function recheck(key) {
  const cached = await findCached(key);
  const fresh = await withTimeout(fetch(key, { cache: "no-store" }), RECHECK_TIMEOUT_MS)
    .catch(() => null);
  if (!fresh || !(fresh.ok || fresh.status === 404)) {
    await tellNetwork(false);
    return;
  }
  await tellNetwork(true);
  if (!cached) {
    await tellClients({ type: "fresh", url: key });
    return;
  }
  await storeIfDifferent(key, fresh, cached);
}
/* A page read online replaces its saved copy; a listing page opened is saved from now on
 * (it matters to this visitor), under the hash the last manifest gave it. */
async function afterNetworkPage(key, response) {
  await tellNetwork(true);
  const cache = await caches.open(CONTENT_CACHE);
  const existing = await cache.match(key);
  const opened = response.ok && LISTING_PATH.exec(key);
  if (opened) {
    await noteInterest({ slugs: [opened[1]], lang: langOf(key) });
  }
  if (response.ok && (existing || opened)) {
    const hash = existing ? existing.headers.get(HASH) : listingHash(lastManifest, key);
    await cache.put(key, await stamp(response, hash));
  }
  await refreshBundle(false);
}

/* --- what this visitor keeps ------------------------------------------------------ */

function langOf(key) {
  const found = LANG_PREFIX.exec(key);
  return found ? found[1] : "en";
}

function inLanguage(path, lang) {
  return lang === "en" ? path : `/${lang}${path}`;
}

async function readInterest() {
  const saved = await (await caches.open(PREFS_CACHE)).match(INTEREST_KEY);
  const interest = saved ? await saved.json().catch(() => ({})) : {};
  return { states: interest.states || [], slugs: interest.slugs || [],
    langs: interest.langs || [] };
}

/* Add what a page tells (its language, the state it shows, listings near the visitor),
 * newest first and bounded; true when that changed what is kept. */
async function noteInterest(data) {
  const interest = await readInterest();
  const before = JSON.stringify(interest);
  const add = (name, values) => {
    const fresh = values.filter((v) => typeof v === "string" && v && v.length <= 80);
    interest[name] = [...new Set([...fresh, ...interest[name]])].slice(0, INTEREST_MAX[name]);
  };
  add("langs", [data.lang]);
  add("states", [data.state]);
  add("slugs", Array.isArray(data.slugs) ? data.slugs.slice(0, 20) : []);
  if (JSON.stringify(interest) === before) {
    return false;
  }
  await (await caches.open(PREFS_CACHE)).put(INTEREST_KEY, new Response(
    JSON.stringify(interest), { headers: { "Content-Type": "application/json" } }));
  return true;
}

/* The manifest's URLs every visitor keeps, and when it lists the listing pages by state
 * (many listings), those of the states this visitor follows for alerts or looked at (the
 * soonest PAGES_PER_STATE of each) and of the listings they opened or found near them, in
 * the languages they read. Any other listing opens offline
 * as the short page the offline page draws from the index. */
async function chosenUrls(manifest) {
  const urls = Object.assign({}, manifest.urls);
  if (!manifest.listings) {
    return urls;
  }
  const interest = await readInterest();
  const saved = await (await caches.open(PREFS_CACHE)).match(TOPICS_KEY);
  const topics = saved ? await saved.json().catch(() => []) : [];
  const states = new Set(interest.states);
  for (const topic of Array.isArray(topics) ? topics : []) {
    if (String(topic).startsWith("state:")) states.add(String(topic).slice(6));
  }
  const slugs = new Set(interest.slugs);
  const langs = interest.langs.length ? interest.langs : ["en"];
  const listed = manifest.langs || ["en", "es"];
  for (const [state, listings] of Object.entries(manifest.listings)) {
    let kept = 0;
    for (const [slug, hashes] of Object.entries(listings)) {
      const followed = states.has(state) && kept < PAGES_PER_STATE;
      if (!followed && !slugs.has(slug)) continue;
      kept += followed ? 1 : 0;
      listed.forEach((lang, i) => {
        if (langs.includes(lang)) urls[inLanguage(`/listings/${slug}`, lang)] = hashes[i];
      });
    }
  }
  return urls;
}

function listingHash(manifest, key) {
  const found = LISTING_PATH.exec(key);
  for (const listings of Object.values((manifest && manifest.listings) || {})) {
    const hashes = found && listings[found[1]];
    if (hashes) return hashes[(manifest.langs || ["en", "es"]).indexOf(langOf(key))] || null;
  }
  return (manifest && manifest.urls[key]) || null;
}

async function refreshInBackground(key, network, cached) {
  const fresh = await network.catch(() => null);
  await tellNetwork(Boolean(fresh));
  await storeIfDifferent(key, fresh, cached);
}

/* A fresh copy replaces the saved one; the pages showing it hear when it differs. */
async function storeIfDifferent(key, fresh, cached) {
  if (!isCacheable(fresh)) {
    return;
  }
  const cache = await caches.open(CONTENT_CACHE);
  const body = await fresh.clone().text();
  const before = await cached.clone().text();
  await cache.put(key, await stamp(fresh, null));
  if (body !== before) {
    await tellClients({ type: "fresh", url: key });
  }
  await refreshBundle(false);
}

async function cacheFirst(request) {
  const cached = await caches.match(request);
  if (cached) {
    return cached;
  }
  const response = await fetch(request);
  if (isCacheable(response)) {
    const cache = await caches.open(CONTENT_CACHE);
    await cache.put(request, await stamp(response.clone(), null));
  }
  return response;
}

async function networkFirst(request) {
  try {
    const response = await withTimeout(fetch(request), NETWORK_TIMEOUT_MS);
    return response;
  } catch (error) {
    // The index is kept under the languages this visitor reads, whichever the page asks.
    const cached = await caches.match(request) || (new URL(request.url).pathname === INDEX_URL
      ? await caches.match(INDEX_URL, { ignoreSearch: true }) : null);
    if (cached) {
      return cached;
    }
    throw error;
  }
}

/* --- helpers ---------------------------------------------------------------------- */

function isCacheable(response) {
  return Boolean(response) && response.ok && response.type === "basic" && !response.redirected;
}

/* A copy of the response carrying when it was saved and the hash it was saved under. */
async function stamp(response, hash) {
  const headers = new Headers(response.headers);
  headers.set(CACHED_AT, String(Date.now()));
  if (hash) {
    headers.set(HASH, hash);
  }
  return new Response(await response.blob(), {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

function pathOf(href) {
  const url = new URL(href);
  return url.pathname + url.search;
}

function cacheKeyFor(href) {
  const url = new URL(href);
  const path = PREFIXED.includes(url.pathname.slice(1)) ? `${url.pathname}/` : url.pathname;
  return path + url.search;
}

async function findCached(key) {
  return (await caches.match(key)) || caches.match(key, { ignoreSearch: true });
}

/* The offline page in the page's language, or else in one this visitor reads. */
async function offlinePageFor(key) {
  const langs = [langOf(key), ...(await readInterest()).langs, "en"];
  for (const lang of langs) {
    const page = await caches.match(inLanguage("/offline", lang));
    if (page) return page;
  }
  return null;
}

function offlineFallback() {
  return new Response("<!doctype html><meta charset=utf-8><title>Offline</title>" +
    "<p>You are offline. / Estás sin conexión.</p>", {
    status: 503,
    headers: { "Content-Type": "text/html; charset=utf-8" },
  });
}

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (error) => { clearTimeout(timer); reject(error); },
    );
  });
}

async function inBatches(items, size, fn) {
  for (let i = 0; i < items.length; i += size) {
    await Promise.all(items.slice(i, i + size).map(fn));
  }
}

async function tellClients(message) {
  const clients = await self.clients.matchAll({ type: "window" });
  for (const client of clients) {
    client.postMessage(message);
  }
}

/* --- suggestions sent later ----- */
/* The suggestion form (web/static/suggest.js) keeps submissions made offline in IndexedDB.
 * They go out on Background Sync, or when a page opens or comes back online (see the message
 * listener). One send at a time, so a suggestion is not posted twice. A 2xx answer leaves
 * only a receipt (the title) on the device; a refusal (4xx) stops the sending and keeps the
 * server's reason, with the text for the form to offer back; a network failure, a 5xx, 429
 * or "too fast" keeps the suggestion for the next try. */

const SUGGESTION_TIMEOUT_MS = 20000;
let sendingSuggestions = null;

self.addEventListener("sync", (event) => {
  if (event.tag === SUGGESTIONS_SYNC_TAG) {
    // Rejecting tells the browser to retry the sync later.
    event.waitUntil(sendSuggestions());
  }
});

/* Every page asks for a "refresh" when it opens online or comes back online (app.js), and
 * the suggestion form asks for "flush-suggestions": either way the message listener at the
 * top sends whatever waits. (A fetch listener here would never run: the one above answers
 * navigations, and respondWith stops the event's propagation.) */
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
