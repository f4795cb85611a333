/* Alerts on the page: keep the alerts' times current (the page may be the offline copy),
 * and the alerts panel: subscribe this browser to push alerts for a state, all states or
 * urgent calls; show and change the choice; stop. Never asks for permission until a tap,
 * and never waits silently: setting up shows progress, and a slow one offers a retry. */
"use strict";

(function () {
  if (window.vigilAlerts) return; // the banner and the page may both load this script
  window.vigilAlerts = true;

  const lang = document.documentElement.lang || "en";
  const pageText = JSON.parse(document.getElementById("i18n").textContent);
  const SETUP_TIMEOUT_MS = 20000;
  const REQUEST_TIMEOUT_MS = 15000;

  /* --- times: "5 minutes ago", "until 9:00 PM" in the phone's own clock --------------- */

  function ago(ms) {
    const seconds = Math.round((ms - Date.now()) / 1000);
    if (Math.abs(seconds) < 45) return pageText.justNow;
    const rtf = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
    for (const [unit, size] of [["day", 86400], ["hour", 3600], ["minute", 60]]) {
      if (Math.abs(seconds) >= size) return rtf.format(Math.round(seconds / size), unit);
    }
    return pageText.justNow;
  }

  function updateTimes() {
    for (const el of document.querySelectorAll("time[data-ago]")) {
      const when = Date.parse(el.getAttribute("datetime"));
      if (!Number.isNaN(when)) el.textContent = ago(when);
    }
    for (const el of document.querySelectorAll("time[data-clock]")) {
      const when = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(when.getTime())) continue;
      const sameDay = when.toDateString() === new Date().toDateString();
      // 12-hour, as the server writes times and as the US reads them, in every language.
      el.textContent = when.toLocaleString(lang, sameDay
        ? { hour: "numeric", minute: "2-digit", hour12: true }
        : { weekday: "short", hour: "numeric", minute: "2-digit", hour12: true });
    }
    // "Starts in 2 hours", rounded as the server rounds it; gone once it has started.
    for (const el of document.querySelectorAll("time[data-in]")) {
      const minutes = (Date.parse(el.getAttribute("datetime")) - Date.now()) / 60000;
      if (Number.isNaN(minutes)) continue;
      if (minutes <= 0) el.closest(".starts-in").hidden = true;
      else el.textContent = new Intl.RelativeTimeFormat(lang).format(...(minutes > 55
        ? [Math.floor(minutes / 60 + 0.5), "hour"] : [5 * Math.ceil(minutes / 5), "minute"]));
    }
  }

  updateTimes();
  setInterval(updateTimes, 30 * 1000);

  /* --- the panel ------------------------------------------------------------------------ */

  const form = document.getElementById("alerts-form");
  if (!form) return;
  const text = JSON.parse(document.getElementById("alerts-i18n").textContent);
  const statusEl = document.getElementById("alerts-status");
  /* vigil:shared-names */
  const stateSelect = document.getElementById("alerts-state");
  const retry = document.getElementById("alerts-retry");
  const standalone = matchMedia("(display-mode: standalone)").matches || navigator.standalone;
  const ios = /iphone|ipad|ipod/i.test(navigator.userAgent) ||
    (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  const supported = "serviceWorker" in navigator && "PushManager" in window &&
    "Notification" in window;

  // The form is drawn from the first paint wherever scripts run (app.css), so that nothing
  // moves when this wakes; where alerts cannot work, it goes.
  if (ios && !standalone) {
    form.classList.remove("js-shown");
    document.getElementById("alerts-ios").hidden = false;
    return;
  }
  if (!supported) {
    form.classList.remove("js-shown");
    document.getElementById("alerts-unsupported").hidden = false;
    return;
  }
  form.hidden = false;
  const asked = new URLSearchParams(location.search).get("state");
  if (asked && stateSelect.querySelector(`option[value="state:${CSS.escape(asked.toUpperCase())}"]`)) {
    stateSelect.value = `state:${asked.toUpperCase()}`;
  }

  function chosen() {
    const topics = [...form.querySelectorAll("input[name=topic]:checked")].map((i) => i.value);
    if (stateSelect.value) topics.unshift(stateSelect.value);
    return topics;
  }

  function describe(topics) {
    return topics.map((t) => {
      if (t === "urgent" || t === "all") return text[t];
      const option = stateSelect.querySelector(`option[value="${CSS.escape(t)}"]`);
      return option ? option.textContent : t;
    }).join(", ");
  }

  function show(message, canRetry) {
    statusEl.textContent = message;
    retry.parentElement.hidden = !canRetry;
  }

  function timeout(promise, ms, what) {
    let timer;
    return Promise.race([
      promise,
      new Promise((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: timed out`)), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  async function request(url, options) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    try {
      return await fetch(url, { ...options, signal: controller.signal });
    } finally {
      clearTimeout(timer);
    }
  }

  async function savedTopics() {
    const saved = await (await caches.open(PREFS_CACHE)).match(TOPICS_KEY);
    return saved ? saved.json() : [];
  }

  async function saveTopics(topics) {
    const prefs = await caches.open(PREFS_CACHE);
    if (topics) {
      await prefs.put(TOPICS_KEY, new Response(JSON.stringify(topics),
        { headers: { "Content-Type": "application/json" } }));
      await prefs.put(LANG_KEY, new Response(text.lang));
    } else {
      await prefs.delete(TOPICS_KEY);
      await prefs.delete(LANG_KEY);
    }
  }

  function keyBytes(base64url) {
    const raw = atob(base64url.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function showChoice(topics) {
    const state = topics.find((t) => t.startsWith("state:"));
    if (state && stateSelect.querySelector(`option[value="${CSS.escape(state)}"]`)) {
      stateSelect.value = state;
    }
    for (const box of form.querySelectorAll("input[name=topic]")) {
      box.checked = topics.includes(box.value);
    }
  }

  /* What this phone already has, without waiting for a worker that is still installing. */
  async function currentState() {
    const registration = await navigator.serviceWorker.getRegistration("/");
    const subscription = registration && registration.active
      ? await registration.pushManager.getSubscription() : null;
    const topics = subscription ? await savedTopics() : [];
    if (subscription && topics.length) {
      showChoice(topics);
      show(`${text.on} ${describe(topics)}`);
    } else {
      show(text.off);
    }
  }

  /* The worker's install stores only the page shell, so it is ready within seconds even on
   * a poor connection; should it take longer, say so and offer a retry instead of waiting. */
  async function worker() {
    const registration = await navigator.serviceWorker.getRegistration("/");
    if (registration && registration.active) return registration;
    if (!registration) {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => null);
    }
    return timeout(navigator.serviceWorker.ready, SETUP_TIMEOUT_MS, "service worker");
  }

  let busy = false;

  async function turnOn(event) {
    if (event) event.preventDefault();
    const topics = chosen();
    if (!topics.length) {
      show(text.choose);
      return;
    }
    if (busy) return;
    busy = true;
    show(text.setup);
    let step = "worker";
    try {
      const permission = await Notification.requestPermission();
      if (permission !== "granted") {
        show(permission === "denied" ? `${text.denied} ${text.allow}` : text.dismissed);
        return;
      }
      const registration = await worker();
      let subscription = await registration.pushManager.getSubscription();
      if (!subscription) {
        const { publicKey } = await (await request("/api/v1/push/key")).json();
        step = "push";
        subscription = await timeout(registration.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: keyBytes(publicKey),
        }), REQUEST_TIMEOUT_MS, "push service");
      }
      step = "save";
      const response = await request(SUBSCRIPTIONS_URL, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ subscription: subscription.toJSON(), topics, lang: text.lang }),
      });
      step = "refused";
      if (!response.ok) throw new Error((await response.json()).error);
      await saveTopics(topics);
      show(`${text.on} ${describe(topics)}`);
    } catch (error) {
      show(failure(step, error), true);
    } finally {
      busy = false;
    }
  }

  /* What went wrong, said so that the visitor knows what to do about it. */
  function failure(step, error) {
    const name = error && error.name;
    if (!navigator.onLine || (name === "TypeError" && step !== "push")) return text.offline;
    if (step === "refused") return text.refused;
    if (name === "NotAllowedError") return `${text.denied} ${text.allow}`;
    if (name === "NotSupportedError") return text.unsupported;
    if (step === "push") return text.pushService;
    return /timed out|abort/i.test(String(error && (error.message || name))) ? text.slow
      : text.failed;
  }

  async function turnOff() {
    const registration = await navigator.serviceWorker.getRegistration("/");
    const subscription = registration ? await registration.pushManager.getSubscription() : null;
    if (subscription) {
      await deleteSubscription(subscription.endpoint, request);
      await subscription.unsubscribe().catch(() => null);
    }
    await saveTopics(null);
    for (const box of form.querySelectorAll("input[name=topic]")) box.checked = false;
    stateSelect.value = "";
    show(text.off);
  }

  form.addEventListener("submit", turnOn);
  retry.addEventListener("click", () => turnOn());
  document.getElementById("alerts-off").addEventListener("click", turnOff);
  currentState().catch(() => show(text.off));
})();
