/* The offline bundle: store the shell at install, then fetch what the manifest changed. */

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
