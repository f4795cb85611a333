/* Small helpers the other parts share: cache keys, stamps, timeouts, telling the pages. */

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
