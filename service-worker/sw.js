/* The worker's constants and the listeners of install, activate, message and fetch. */
/* Vigil service worker: every page, legal contact and rights article kept offline.
 *
 * The server joins this file and the others in service-worker/, one a job, into the one
 * classic script it serves as /sw.js, in the order SERVICE_WORKER_PARTS (server/render.py)
 * lists them: this part first, for "use strict" and the constants the others read.
 * Caches carry the worker's version (set by the server from these files and the static
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
