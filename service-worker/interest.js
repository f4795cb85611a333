/* What this visitor keeps: the languages, states and listings they follow, as URLs. */

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
