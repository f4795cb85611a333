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

  function fold(text) {
    return String(text || "").normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function terms(query) {
    return fold(query.slice(0, 200)).replace(/[^\p{L}\p{N}]+/gu, " ").trim().split(" ")
      .filter(Boolean).slice(0, 8);
  }

  /* "Occupation in Atlanta" is made from the city alone; say it in the page's language. */
  function localTitle(r) {
    for (const [english, local] of labels.titles) {
      if (r.title === english.replace("%(city)s", r.city)) return local.replace("%(city)s", r.city);
    }
    return r.title;
  }

  function matches(wanted, ...fields) {
    const haystack = fold(fields.filter(Boolean).join(" "));
    return wanted.every((t) => haystack.includes(t));
  }

  async function load() {
    if (data) return data;
    const response = await fetch("/offline-index.json");
    if (!response.ok) throw new Error(`index: ${response.status}`);
    const index = await response.json();
    data = { listings: index.listings, facilities: index.facilities, contacts: index.contacts,
      rights: index.rights[lang] || [] };
    return data;
  }

  function search(d, query) {
    const t = terms(query);
    if (!t.length) return null;
    const out = [];
    for (const r of d.listings) {
      const title = (lang === "es" && r.title_es) || localTitle(r);
      if (matches(t, title, r.title, r.city, r.state, r.address, r.description && r.description[lang])) {
        out.push(["listing", title, `${r.city}, ${r.state}`, `${prefix}/listings/${r.slug}`]);
      }
    }
    for (const r of d.facilities) {
      if (matches(t, r.name, r.city, r.state, r.address)) {
        out.push(["facility", r.name, `${r.city}, ${r.state}`, `${prefix}/facilities#${r.slug}`]);
      }
    }
    for (const r of d.contacts) {
      if (matches(t, r.organization, r.description[lang])) {
        out.push(["contact", r.organization, r.description[lang].slice(0, 120),
          `${prefix}/legal#${r.slug}`]);
      }
    }
    for (const r of d.rights) {
      if (matches(t, r.title, r.summary)) {
        out.push(["rights", r.title, r.summary, `${prefix}/rights/${r.slug}`]);
      }
    }
    return out;
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
    for (const [type, title, detail, url] of found) {
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
  }
})();
