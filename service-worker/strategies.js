/* How the fetch listener answers: pages, static assets, the offline index and the API. */

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
