/* Listings from the index the service worker keeps offline (/offline-index.json): the
 * short page of a listing whose full page this phone did not keep (the offline page loads
 * this script), and "Nearest to me" on the home page (which loads it when tapped), over
 * every active listing in the country rather than those on the page, which it then orders
 * by distance too. */
"use strict";

window.vigilListings = (function () {
  const lang = document.documentElement.lang;
  const prefix = lang === "en" ? "" : `/${lang}`;

  /* Every public listing, from the index app.js reads once per page. */
  function index() {
    return window.vigilReadIndex(false).then((data) => data.listings);
  }

  function titleOf(item) {
    return (lang === "es" && item.title_es) || item.title;
  }

  function placeOf(item) {
    const region = [item.state, item.zip].filter(Boolean).join(" ");
    return [item.address, item.city, region].filter(Boolean).join(", ");
  }

  function element(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text) el.textContent = text;
    return el;
  }

  function card(item, detail) {
    const li = element("li", "card");
    const h3 = element("h3");
    const a = element("a", "", titleOf(item));
    a.href = `${prefix}/listings/${item.slug}`;
    h3.append(a);
    li.append(h3, element("p", "where", placeOf(item)), element("p", "muted", detail));
    return li;
  }

  /* A start as the place's own clock shows it: the ISO string is written in the place's
     time, so its date and hour are read as they are, not moved to the phone's zone. */
  function whenText(iso) {
    const found = /^(\d{4})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d))?/.exec(iso || "");
    if (!found) return "";
    const [, y, m, d, hh, mm] = found.map(Number);
    const options = { timeZone: "UTC", dateStyle: "full" };
    if (found[4]) options.timeStyle = "short";
    return new Intl.DateTimeFormat(lang, options)
      .format(new Date(Date.UTC(y, m - 1, d, hh || 0, mm || 0)));
  }

  function km(lat1, lon1, lat2, lon2) {
    const rad = Math.PI / 180;
    const a = Math.sin(((lat2 - lat1) * rad) / 2) ** 2 +
      Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lon2 - lon1) * rad) / 2) ** 2;
    return 12742 * Math.asin(Math.sqrt(a));
  }

  /* The `count` active listings nearest the position, each as {slug, card}; from the index,
     or from the cards on the page when the index cannot be had. */
  async function nearest(latitude, longitude, count) {
    const items = await index().then((all) => all.filter((r) => !r.status && r.lat != null)).catch(() => [...document.querySelectorAll("main li.card[data-lat]")]
      .map((el) => ({ el, lat: Number(el.dataset.lat), lon: Number(el.dataset.lon) })));
    for (const item of items) item.km = km(latitude, longitude, item.lat, item.lon);
    return items.sort((a, b) => a.km - b.km).slice(0, count).map((item) => {
      if (!item.el) return { slug: item.slug, card: card(item, distance(item.km)) };
      const copy = item.el.cloneNode(true);
      for (const old of copy.querySelectorAll(".distance")) old.remove();
      copy.append(element("p", "muted distance", distance(item.km)));
      return { slug: null, card: copy };
    });
  }

  function distance(kilometres) {
    return `≈ ${Math.round(kilometres * 0.621371)} mi · ${Math.round(kilometres)} km`;
  }

  /* The page's own lists (happening now, later today...), each nearest first, with how
     far each is; those with no known place go last, in the order they were in. */
  function sortByDistance(latitude, longitude) {
    for (const list of document.querySelectorAll("main ul[data-phase]")) {
      const cards = [...list.children].map((el) => ({
        el, km: el.dataset.lat ? km(latitude, longitude, Number(el.dataset.lat),
          Number(el.dataset.lon)) : Infinity,
      }));
      for (const item of cards) {
        if (item.km === Infinity) continue;
        const line = item.el.querySelector(".distance") || element("p", "muted distance");
        line.textContent = distance(item.km);
        item.el.append(line);
      }
      list.append(...cards.sort((a, b) => a.km - b.km).map((item) => item.el));
    }
  }

  /* Offline, a listing whose full page was not saved opens as the offline page: fill in
     what the index knows about it (title, place, time, directions). */
  async function showShort() {
    const section = document.getElementById("short-listing");
    const found = /^(?:\/es)?\/listings\/([^/.]+)$/.exec(location.pathname);
    if (!section || !found) return;
    const item = (await index().catch(() => [])).find((r) => r.slug === found[1]);
    if (!item) return;
    document.getElementById("offline-h").textContent = titleOf(item);
    section.querySelector(".where").textContent = placeOf(item);
    section.querySelector(".when").textContent = whenText(item.when);
    section.querySelector("a.state").href = `${prefix}/?state=${item.state}`;
    if (item.address) {
      const place = encodeURIComponent(placeOf(item));
      const maps = section.querySelector(".maps");
      maps.querySelector("[data-map=apple]").href = `https://maps.apple.com/?daddr=${place}`;
      maps.querySelector("[data-map=google]").href =
        `https://www.google.com/maps/dir/?api=1&destination=${place}`;
      maps.querySelector("[data-map=geo]").href = `geo:0,0?q=${place}`;
      maps.querySelector("[data-os=any]").href = `https://www.openstreetmap.org/search?query=${place}`;
      maps.hidden = false;
    }
    document.getElementById("offline-note").hidden = true;
    section.hidden = false;
    document.title = titleOf(item);
  }

  showShort();
  return { index, nearest, sortByDistance };
})();
