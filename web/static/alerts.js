/* The alerts panel: subscribe this browser to push alerts by state, all states or urgent
 * calls; show and change the choice; stop. Never asks for permission until a tap. */
"use strict";

(function () {
  const form = document.getElementById("alerts-form");
  if (!form) return;
  const text = JSON.parse(document.getElementById("alerts-i18n").textContent);
  const statusEl = document.getElementById("alerts-status");
  /* vigil:shared-names */
  const standalone = matchMedia("(display-mode: standalone)").matches || navigator.standalone;
  const ios = /iphone|ipad|ipod/i.test(navigator.userAgent);
  const supported = "serviceWorker" in navigator && "PushManager" in window &&
    "Notification" in window;

  if (ios && !standalone) {
    document.getElementById("alerts-ios").hidden = false;
    return;
  }
  if (!supported) {
    document.getElementById("alerts-unsupported").hidden = false;
    return;
  }
  form.hidden = false;

  function chosen() {
    return [...form.querySelectorAll("input[name=topic]:checked")].map((i) => i.value);
  }

  function describe(topics) {
    return topics.map((t) => {
      if (t === "urgent" || t === "all") return text[t];
      const box = document.getElementById(`t-${t.slice(6)}`);
      return box ? box.labels[0].textContent : t;
    }).join(", ");
  }

  function show(message) {
    statusEl.textContent = message;
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
    } else {
      await prefs.delete(TOPICS_KEY);
    }
  }

  function keyBytes(base64url) {
    const raw = atob(base64url.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  async function currentState() {
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.getSubscription();
    const topics = subscription ? await savedTopics() : [];
    for (const box of form.querySelectorAll("input[name=topic]")) {
      box.checked = topics.includes(box.value);
    }
    show(subscription && topics.length ? `${text.on} ${describe(topics)}` : text.off);
  }

  async function turnOn(event) {
    event.preventDefault();
    const topics = chosen();
    if (!topics.length) {
      show(text.choose);
      return;
    }
    try {
      const permission = await Notification.requestPermission();
      if (permission !== "granted") {
        show(text.denied);
        return;
      }
      const registration = await navigator.serviceWorker.ready;
      let subscription = await registration.pushManager.getSubscription();
      if (!subscription) {
        const { publicKey } = await (await fetch("/api/v1/push/key")).json();
        subscription = await registration.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: keyBytes(publicKey),
        });
      }
      const response = await fetch("/api/v1/push/subscriptions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ subscription: subscription.toJSON(), topics }),
      });
      if (!response.ok) throw new Error((await response.json()).error);
      await saveTopics(topics);
      show(`${text.on} ${describe(topics)}`);
    } catch (error) {
      show(text.failed);
    }
  }

  async function turnOff() {
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.getSubscription();
    if (subscription) {
      await fetch("/api/v1/push/subscriptions", {
        method: "DELETE",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ endpoint: subscription.endpoint }),
      }).catch(() => null);
      await subscription.unsubscribe().catch(() => null);
    }
    await saveTopics(null);
    for (const box of form.querySelectorAll("input[name=topic]")) box.checked = false;
    show(text.off);
  }

  form.addEventListener("submit", turnOn);
  document.getElementById("alerts-off").addEventListener("click", turnOff);
  currentState().catch(() => show(text.off));
})();
