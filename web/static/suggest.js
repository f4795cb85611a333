/* Vigil suggestion form: send it in the background, or keep it on the device while offline.
 *
 * Without this script the form posts normally. With it, a submission goes out as a fetch;
 * when the device is offline (or the request fails on the network) the submission, stamp
 * included, waits in IndexedDB. The service worker sends it on Background Sync, on a
 * "flush-suggestions" message, or on the next page load; this script sends it itself only
 * when no service worker controls the page. The store and record shape are shared with the
 * "suggestions sent later" section of sw.js.
 */
"use strict";

(function () {
  const form = document.getElementById("suggest-form");
  if (!form) return;
  const strings = JSON.parse(document.getElementById("suggest-i18n").textContent);
  const statusEl = document.getElementById("suggest-status");
  const outbox = document.getElementById("outbox");
  /* vigil:shared-names */
  const KEEP_RECEIPTS_MS = 30 * 24 * 60 * 60 * 1000;
  const SEND_TIMEOUT_MS = 20000;
  let sendingHere = false;

  /* --- the device's outbox (IndexedDB) ------------------------------------------------ */

  async function withStore(mode, fn) {
    const db = await openSuggestions();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(SUGGESTIONS_STORE, mode);
        const result = fn(tx.objectStore(SUGGESTIONS_STORE));
        tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
        tx.onerror = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  }

  const allItems = () => withStore("readonly", (store) => store.getAll());
  const putItem = (item) => withStore("readwrite", (store) => store.put(item));
  const deleteItem = (id) => withStore("readwrite", (store) => store.delete(id));

  /* --- what the visitor sees ---------------------------------------------------------- */

  function say(text, isError) {
    statusEl.replaceChildren();
    const span = document.createElement("span");
    span.textContent = text;
    if (isError) span.className = "error";
    statusEl.append(span);
    statusEl.hidden = !text;
  }

  function label(item) {
    if (item.state === "sent") return strings.sent;
    if (item.state === "failed") return `${strings.failed} ${item.error || ""}`.trim();
    return strings.queued;
  }

  async function render() {
    let items = [];
    try {
      items = await allItems();
    } catch (error) {
      return; // no IndexedDB (private mode in some browsers): nothing was kept either
    }
    const now = Date.now();
    for (const item of items) {
      if (item.state !== "queued" && now - (item.at || 0) > KEEP_RECEIPTS_MS) {
        await deleteItem(item.id).catch(() => {});
      }
    }
    items = items.filter((item) => item.state === "queued" || now - (item.at || 0) <= KEEP_RECEIPTS_MS)
      .sort((a, b) => b.created - a.created);
    const list = outbox.querySelector("ul");
    list.replaceChildren(...items.map((item) => {
      const li = document.createElement("li");
      li.className = "card";
      li.dataset.state = item.state;
      const title = document.createElement("h3");
      title.textContent = item.title;
      const state = document.createElement("p");
      state.className = item.state === "failed" ? "error" : "muted";
      state.textContent = label(item);
      li.append(title, state);
      if (item.state === "failed" && item.body) li.append(editButton(item));
      return li;
    }));
    outbox.hidden = items.length === 0;
  }

  /* A refused suggestion goes back into the form (with this page's stamp) to fix and resend. */
  function editButton(item) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn secondary";
    button.textContent = strings.edit;
    button.addEventListener("click", async () => {
      for (const [name, value] of new URLSearchParams(item.body)) {
        const field = form.elements.namedItem(name);
        if (field && name !== "stamp" && field.type !== "hidden") field.value = value;
      }
      await deleteItem(item.id).catch(() => {});
      await render();
      form.elements.namedItem("title").focus();
    });
    return button;
  }

  /* --- errors from the server, next to their fields ------------------------------------ */

  function clearErrors() {
    for (const el of form.querySelectorAll("span.error[id^='e-'], p.error[id^='e-']")) el.remove();
    for (const el of form.querySelectorAll("[aria-invalid]")) {
      el.removeAttribute("aria-invalid");
      const hint = el.getAttribute("aria-describedby") || "";
      const rest = hint.split(" ").filter((id) => id && !id.startsWith("e-")).join(" ");
      if (rest) el.setAttribute("aria-describedby", rest);
      else el.removeAttribute("aria-describedby");
    }
  }

  function showErrors(errors) {
    let first = null;
    for (const [name, message] of Object.entries(errors || {})) {
      const field = form.elements.namedItem(name);
      const span = document.createElement("span");
      span.className = "error";
      span.id = `e-${name}`;
      span.textContent = message;
      if (field && field.type !== "hidden") {
        field.setAttribute("aria-invalid", "true");
        const hint = field.getAttribute("aria-describedby");
        field.setAttribute("aria-describedby", hint ? `e-${name} ${hint}` : `e-${name}`);
        (document.getElementById(`h-${name}`) || field).after(span);
        first = first || field;
      } else {
        form.prepend(span);
      }
    }
    if (first) first.focus();
  }

  /* --- sending ------------------------------------------------------------------------- */

  function newItem() {
    const body = new URLSearchParams(new FormData(form)).toString();
    const random = Math.random().toString(36).slice(2, 10);
    return {
      id: `${Date.now()}-${random}`,
      action: form.action,
      body,
      title: form.elements.namedItem("title").value.trim(),
      created: Date.now(),
      state: "queued",
    };
  }

  function post(item) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), SEND_TIMEOUT_MS);
    return fetch(item.action, {
      method: "POST",
      headers: { "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: item.body,
      credentials: "omit",
      signal: controller.signal,
    }).finally(() => clearTimeout(timer));
  }

  async function keepForLater(item) {
    await putItem(item);
    form.reset();
    clearErrors();
    say(strings.savedOffline);
    const registration = await workerRegistration();
    if (registration && registration.sync) {
      await registration.sync.register(SUGGESTIONS_SYNC_TAG).catch(() => {});
    }
    await render();
  }

  async function onSubmit(event) {
    event.preventDefault();
    const item = newItem();
    if (!navigator.onLine) {
      await keepForLater(item);
      return;
    }
    say(strings.sending);
    let response;
    try {
      response = await post(item);
    } catch (error) {
      await keepForLater(item);
      return;
    }
    if (response.status >= 500) {
      await keepForLater(item);
      return;
    }
    const data = await response.json().catch(() => ({}));
    clearErrors();
    if (response.ok) {
      await putItem({ id: item.id, title: item.title, created: item.created, state: "sent", at: Date.now() })
        .catch(() => {});
      form.reset();
      say(strings.thanks);
      await render();
      return;
    }
    if (data.stamp) form.elements.namedItem("stamp").value = data.stamp;
    say(data.error || strings.failedNetwork, true);
    showErrors(data.errors);
  }

  /* Pages controlled by the service worker leave the sending to it (one sender, no
   * duplicates); otherwise this page sends what is waiting. */
  async function flush() {
    if (!navigator.onLine) return;
    const controller = navigator.serviceWorker && navigator.serviceWorker.controller;
    if (controller) {
      controller.postMessage({ type: "flush-suggestions" });
      return;
    }
    if (sendingHere) return;
    sendingHere = true;
    try {
      const items = (await allItems()).filter((item) => item.state === "queued");
      for (const item of items) {
        let response;
        try {
          response = await post(item);
        } catch (error) {
          continue;
        }
        const data = await response.json().catch(() => ({}));
        if (response.ok) {
          await putItem({ id: item.id, title: item.title, created: item.created, state: "sent", at: Date.now() });
        } else if (response.status < 500 && response.status !== 429 && data.code !== "too-fast") {
          await putItem({ id: item.id, title: item.title, created: item.created, state: "failed",
            error: String(data.error || response.status), body: item.body, at: Date.now() });
        }
      }
    } catch (error) {
      // IndexedDB unavailable: nothing to send
    } finally {
      sendingHere = false;
      await render();
    }
  }

  async function workerRegistration() {
    if (!("serviceWorker" in navigator)) return null;
    return navigator.serviceWorker.getRegistration().catch(() => null);
  }

  if (!("indexedDB" in window)) return; // the plain form post still works
  form.addEventListener("submit", (event) => {
    onSubmit(event).catch(() => form.submit());
  });
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", (event) => {
      if ((event.data || {}).type === "suggestions") render();
    });
  }
  window.addEventListener("online", flush);
  render().then(flush);
})();
