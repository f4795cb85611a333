/* Search answered on the device from the index the service worker keeps (every listing,
 * facility, contact and rights article, by title and place, and while there are few
 * listings by their descriptions too), so it works offline.
 * Matches the server's rules: every term, accents and case ignored. */
"use strict";

(function () {
  const form = document.querySelector("form[role=search]");
  const input = document.getElementById("q");
  const results = document.getElementById("results");
  const labels = JSON.parse(document.getElementById("search-types").textContent);
  const lang = document.documentElement.lang;
  const prefix = lang === "en" ? "" : `/${lang}`;
  let data = null;

  /* Accents and case ignored; plain ASCII (most of what is searched) skips the Unicode
     decomposition, which is the slow part on a cheap phone. */
  function fold(text) {
    const s = String(text || "");
    if (!/[^\x00-\x7f]/.test(s)) return s.toLowerCase();
    return s.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function terms(query) {
    return fold(query.slice(0, 200)).replace(/[^\p{L}\p{N}]+/gu, " ").trim().split(" ")
      .filter(Boolean).slice(0, 8);
  }

  /* Each record's searchable text, folded once per page rather than at every search. */
  function entry(kind, title, detail, url, ...fields) {
    return { kind, title, detail, url, text: fold(fields.filter(Boolean).join(" ")) };
  }

  /* Each record of the index as search reads it. */
  function entries(index) {
    const title = (r) => (lang === "es" && r.title_es) || r.title;
    return [
      ...index.listings.map((r) => entry("listing", title(r), `${r.city}, ${r.state}`,
        `${prefix}/listings/${r.slug}`, r.title, r.title_es, r.city, r.state, r.address,
        r.description && (r.description[lang] || r.description.en))),
      ...index.facilities.map((r) => entry("facility", r.name, `${r.city}, ${r.state}`,
        `${prefix}/facilities#${r.slug}`, r.name, r.city, r.state, r.address)),
      ...index.contacts.map((r) => entry("contact", r.organization,
        (r.description[lang] || r.description.en).slice(0, 120), `${prefix}/legal#${r.slug}`,
        r.organization, r.description[lang] || r.description.en)),
      ...(index.rights[lang] || []).map((r) => entry("rights", r.title, r.summary,
        `${prefix}/rights/${r.slug}`, r.title, r.summary)),
    ];
  }

  /* The index as search reads it (app.js reads the file: window.vigilReadIndex). */
  async function load(savedOnly) {
    data = data || window.vigilReadIndex(savedOnly).then(entries);
    data.catch(() => { data = null; });
    return data;
  }

  function search(entries, query) {
    const t = terms(query);
    if (!t.length) return null;
    return entries.filter((e) => t.every((term) => e.text.includes(term)));
  }

  function render(found) {
    results.replaceChildren();
    if (found === null) return;
    if (!found.length) {
      const p = document.createElement("p");
      p.textContent = labels.none;
      results.append(p);
      return;
    }
    const h = document.createElement("h2");
    h.textContent = `${labels.count} (${found.length})`;
    const list = document.createElement("ul");
    list.className = "cards";
    for (const { kind: type, title, detail, url } of found) {
      const li = document.createElement("li");
      li.className = "card";
      const a = document.createElement("a");
      a.href = url;
      a.textContent = title;
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = labels[type];
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = detail;
      li.append(a, " ", tag, p);
      list.append(li);
    }
    results.append(h, list);
  }

  async function run(query) {
    try {
      render(search(await load(), query));
    } catch (error) {
      form.submit(); // no saved data yet: let the server answer
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = input.value;
    history.replaceState(null, "", `${location.pathname}?q=${encodeURIComponent(query)}`);
    run(query);
  });
  const initial = new URLSearchParams(location.search).get("q");
  if (initial) {
    input.value = initial;
    run(initial);
  } else if (window.caches && navigator.serviceWorker && navigator.serviceWorker.controller) {
    load(true).catch(() => {}); // kept on the phone: read before the first word is typed
  }
})();
