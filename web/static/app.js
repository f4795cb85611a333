/* Vigil page script. Everything here only adds to pages that already work without it. */
"use strict";

(function () {
  const strings = JSON.parse(document.getElementById("i18n").textContent);
  const statusEl = document.getElementById("status");
  const lang = strings.lang;
  const picker = [...document.querySelectorAll("#languages a[hreflang]")];
  const pageKey = picker.some((a) => `/${a.hreflang}` === location.pathname)
    ? `${location.pathname}/` : location.pathname + location.search;
  const ua = navigator.userAgent;
  const ios = /iphone|ipad|ipod/i.test(ua) ||
    (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  let cachedAt = null;
  let newer = false;
  /* The worker, not navigator.onLine, says whether this page came from its saved copy
     because the network failed or hung ("lost"), and when a request went through again. */
  let connection = "";
  let savedAt = null;
  let servedSaved = false;
  let heard = false;
  let timer = null;
  let delay = 0;

  function relativeTime(ms) {
    const seconds = Math.round((ms - Date.now()) / 1000);
    if (Math.abs(seconds) < 45) return strings.justNow;
    const rtf = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
    const units = [["day", 86400], ["hour", 3600], ["minute", 60]];
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size) return rtf.format(Math.round(seconds / size), unit);
    }
    return strings.justNow;
  }

  function showStatus() {
    const lost = connection === "lost";
    const when = savedAt && new Date(savedAt);
    const parts = lost ? [strings.noConnection + " · " + (when ? strings.savedCopy.replace("{time}",
      new Intl.DateTimeFormat(lang, when.toDateString() === new Date().toDateString()
        ? { timeStyle: "short" } : { dateStyle: "medium", timeStyle: "short" }).format(when))
      : strings.stillTrying)] : [];
    if (connection === "back") parts.push(strings.connectedAgain);
    if (cachedAt && !lost) parts.push(`${strings.saved} · ${strings.updated} ${relativeTime(cachedAt)}`);
    if (newer) parts.push(servedSaved && !savedAt ? strings.ready : strings.newer);
    statusEl.textContent = parts.join(" ");
    if (newer) statusEl.append(" ", reloadButton());
    statusEl.classList.toggle("offline", lost);
    // A line in the flow, covering nothing: under the header on a page shown without a
    // connection (read first), else after the content, where it moves nothing.
    const anchor = servedSaved ? document.querySelector(".top") : document.getElementById("main");
    if (statusEl.previousElementSibling !== anchor) anchor.after(statusEl);
    statusEl.hidden = parts.length === 0;
  }

  /* Lost: the worker asks for this page again after 3 s, then less often (up to 30 s), and
     at once on a hint that the network may be back. */
  function recheck(now) {
    clearTimeout(timer);
    if (connection !== "lost") return;
    delay = now ? 0 : Math.min(30000, delay * 2 || 3000);
    timer = setTimeout(() => { tellWorker({ type: "recheck", url: pageKey }); recheck(); }, delay);
  }

  function onWorkerMessage(event) {
    const data = event.data || {};
    const lost = connection === "lost";
    if (data.type === "served" && data.url === pageKey) {
      heard = true;
      if (data.offline) {
        connection = "lost";
        servedSaved = true;
        savedAt = data.savedAt || null;
        recheck();
      }
      readCachedAt();
    } else if (data.type === "network" && lost && data.up) {
      connection = "back";
      showStatus();
      recheck(); // stops the timer; the page is fetched once more to see if it differs
      tellWorker({ type: "recheck", url: pageKey });
    } else if (data.type === "fresh" && data.url === pageKey) {
      newer = true;
      showStatus();
    } else if (data.type === "bundle") {
      // The saved copy shown was replaced by a newer one while the page was open.
      if (servedSaved && (data.changed || []).includes(pageKey)) newer = true;
      readCachedAt();
    }
  }

  async function readCachedAt() {
    if (!("caches" in window)) return;
    const response = await caches.match(pageKey).catch(() => null);
    const stamp = response && Number(response.headers.get("x-vigil-cached-at"));
    cachedAt = stamp || null;
    showStatus();
  }

  function reloadButton() {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn secondary";
    button.textContent = strings.reload;
    button.addEventListener("click", () => {
      sessionStorage.setItem("vigil-scroll", `${pageKey}|${window.scrollY}`);
      location.reload();
    });
    return button;
  }

  function restoreScroll() {
    const saved = sessionStorage.getItem("vigil-scroll");
    if (!saved) return;
    sessionStorage.removeItem("vigil-scroll");
    const [key, y] = saved.split("|");
    if (key === pageKey) window.scrollTo(0, Number(y));
  }

  function registerWorker() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
    navigator.serviceWorker.addEventListener("message", onWorkerMessage);
    navigator.serviceWorker.startMessages();
    tellWorker({ type: "served", url: pageKey });
    navigator.serviceWorker.ready.then((registration) => {
      if (connection !== "lost" && registration.active) {
        registration.active.postMessage(refreshMessage());
      }
    });
  }

  function countVisit() {
    const visits = Number(localStorage.getItem("vigil-visits") || 0) + 1;
    localStorage.setItem("vigil-visits", String(visits));
    return visits;
  }

  /* Ask the browser to keep the offline copy once Vigil is installed or used twice. */
  function askPersistence(visits, installed) {
    if (!navigator.storage || !navigator.storage.persist) return;
    if ((installed || visits >= 2) && !localStorage.getItem("vigil-persist-asked")) {
      localStorage.setItem("vigil-persist-asked", "1");
      navigator.storage.persist().catch(() => {});
    }
  }

  /* The install offer sits in the header from the second visit on: a first-time visitor
     in a hurry sees only what they came for. On Android it is there even when the browser
     offers no prompt (Firefox never does; Chrome not after a refusal): a tap then shows
     how to install from the browser's menu. */
  function setUpInstall(visits, installed) {
    const button = document.getElementById("install");
    const iosHelp = document.getElementById("ios-install");
    const androidHelp = document.getElementById("android-install");
    if (installed || visits < 2) return;
    let deferred = null;
    window.addEventListener("beforeinstallprompt", (event) => {
      event.preventDefault();
      deferred = event;
      button.hidden = false;
      androidHelp.hidden = true;
    });
    if (/android/i.test(ua)) button.hidden = false;
    button.addEventListener("click", async () => {
      if (!deferred) {
        androidHelp.hidden = false;
        androidHelp.focus();
        return;
      }
      deferred.prompt();
      await deferred.userChoice.catch(() => null);
      deferred = null;
      button.hidden = true;
    });
    window.addEventListener("appinstalled", () => { button.hidden = true; });
    if (ios) iosHelp.hidden = false;
  }

  function setUpShare() {
    for (const button of document.querySelectorAll("button.share")) {
      button.hidden = false;
      button.addEventListener("click", async () => {
        const url = button.dataset.url;
        if (navigator.share) {
          await navigator.share({ title: button.dataset.title, url }).catch(() => null);
          return;
        }
        await navigator.clipboard.writeText(url).catch(() => null);
        button.textContent = strings.copied;
      });
    }
  }

  /* Without this script every map link shows; with it, only those this phone can open. */
  function setUpMaps() {
    const other = ios ? "android" : /android/i.test(ua) ? "ios" : "android";
    for (const link of document.querySelectorAll(`.maps a[data-os="${other}"]`)) {
      link.hidden = true;
    }
  }

  /* What the worker keeps depends on what this visitor reads: the page's language and,
     on a state's list of vigils, that state. */
  function refreshMessage() {
    const home = location.pathname === "/" || location.pathname === "/es/" ||
      location.pathname === "/es";
    const state = home ? new URLSearchParams(location.search).get("state") : null;
    return { type: "refresh", lang, state: state && /^[A-Z]{2}$/.test(state) ? state : null };
  }

  function tellWorker(message) {
    const controller = navigator.serviceWorker && navigator.serviceWorker.controller;
    if (controller) controller.postMessage(message);
  }

  function askRefresh() {
    tellWorker(refreshMessage());
  }

  /* The offline index, read once per page for search.js and listings.js: savedOnly from
     the worker's cache alone, else from the network (the worker's cache when offline). */
  let indexFromCache = false;
  function readIndex(savedOnly) {
    if (!window.vigilIndex) {
      // The worker keeps the index under the languages its visitor reads (?langs=...).
      const url = `/offline-index.json?langs=${lang}`;
      const read = (savedOnly ? caches.match(url, { ignoreSearch: true }) : fetch(url)).then(
        (response) => {
          if (!response || !response.ok) throw new Error("index not read");
          return response.json();
        });
      window.vigilIndex = read;
      indexFromCache = savedOnly;
      read.catch(() => { if (window.vigilIndex === read) window.vigilIndex = null; });
    }
    const read = window.vigilIndex;
    return indexFromCache && !savedOnly ? read.catch(() => readIndex(false)) : read;
  }
  window.vigilReadIndex = readIndex;

  /* Sort active listings by distance on the device; the position never leaves it. */
  function setUpNearMe() {
    const button = document.getElementById("near-me");
    if (!button) return;
    if (!navigator.geolocation) {
      for (const el of document.querySelectorAll(".js-shown")) el.classList.remove("js-shown");
      return;
    }
    const note = document.getElementById("near-status");
    button.hidden = false;
    document.getElementById("near-note").hidden = false;

    function chooseState(message) {
      note.textContent = message;
      button.disabled = false;
      const select = document.getElementById("state");
      if (select) select.focus();
    }

    /* listings.js knows every active listing in the country, from the index. Where the
       worker keeps both on the phone they are read from its cache once the page is idle
       (never from the network), so a tap is answered at once; else they are loaded when
       someone asks, side by side. */
    let script = null;
    function loadListings() {
      script = script || new Promise((resolve, reject) => {
        const element = document.createElement("script");
        element.src = button.dataset.script;
        element.onload = resolve;
        element.onerror = reject;
        document.head.append(element);
      });
      script.catch(() => { script = null; });
      return script;
    }
    if (navigator.serviceWorker && navigator.serviceWorker.controller) {
      (window.requestIdleCallback || setTimeout)(() => {
        if (window.caches) readIndex(true).catch(() => {});
        loadListings().catch(() => {});
      });
    }

    let loading = null;

    async function showNearest(position) {
      const loaded = await loading.then(() => true, () => false);
      if (!loaded) return chooseState(button.dataset.noPlace);
      const { latitude, longitude } = position.coords;
      const nearest = await window.vigilListings.nearest(latitude, longitude, 10);
      window.vigilListings.sortByDistance(latitude, longitude);
      if (!nearest.length) return chooseState(button.dataset.noneNear);
      const section = document.getElementById("nearest");
      section.querySelector("ul").replaceChildren(...nearest.map((item) => item.card));
      // Their pages are worth keeping offline on this phone.
      tellWorker({ type: "interest", lang, slugs: nearest.map((item) => item.slug).filter(Boolean) });
      note.textContent = "";
      button.disabled = false;
      section.hidden = false;
      section.scrollIntoView();
    }

    button.addEventListener("click", () => {
      button.disabled = true;
      note.textContent = button.dataset.locating;
      // The script and its index load while the phone finds its position, not after.
      readIndex(false).catch(() => {});
      loading = loadListings();
      loading.catch(() => {}); // a failure is answered when the position comes
      navigator.geolocation.getCurrentPosition(showNearest, () => chooseState(button.dataset.noPlace),
        { maximumAge: 600000, timeout: 15000 });
    });
  }

  window.addEventListener("online", () => { recheck(true); askRefresh(); });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) recheck(true); });
  /* The browser's language, offered (never forced) when the site has it and this page is in
     another: the same page in it, named in itself, until the visitor picks a language. */
  function suggestLanguage() {
    const CHOSEN = "vigil-language-chosen";
    for (const a of picker) a.addEventListener("click", () => localStorage.setItem(CHOSEN, "1"));
    if (localStorage.getItem(CHOSEN)) return;
    for (const wanted of navigator.languages || []) {
      const tag = wanted.toLowerCase();
      if (/^zh-(hant|tw|hk|mo)/.test(tag)) continue;
      const code = tag.startsWith("zh") ? "zh-Hans" : tag.split("-")[0];
      const link = picker.find((a) => a.hreflang === code);
      if (!link) continue;
      if (code === lang) return;
      // In the header, beside the page's own language: nothing on the page moves.
      const offer = link.cloneNode(true);
      offer.className = "offer-lang";
      offer.removeAttribute("aria-current");
      offer.addEventListener("click", () => localStorage.setItem(CHOSEN, "1"));
      document.querySelector(".top .lang").before(offer);
      return;
    }
  }

  suggestLanguage();
  registerWorker();
  // A controlled page first hears how it was served (an older worker never says).
  if (navigator.serviceWorker && navigator.serviceWorker.controller) {
    setTimeout(() => { if (!heard) readCachedAt(); }, 1500);
  } else {
    readCachedAt();
  }
  restoreScroll();
  const visits = countVisit();
  const installed = matchMedia("(display-mode: standalone)").matches || navigator.standalone;
  askPersistence(visits, installed);
  setUpInstall(visits, installed);
  setUpShare();
  setUpMaps();
  setUpNearMe();
  setInterval(() => { if (cachedAt || newer) showStatus(); }, 60 * 1000);
})();
