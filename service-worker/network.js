/* What the network did, told to the pages: a saved copy served, back online, a fresher copy. */

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
