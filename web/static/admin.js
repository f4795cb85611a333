// Organizer pages: small aids for forms filled on a phone. Every form works without this.
(function () {
  "use strict";

  // "Use my location": the phone's position into the latitude and longitude fields.
  const locate = document.querySelector("[data-locate]");
  if (locate && "geolocation" in navigator) {
    const button = locate.querySelector("[data-locate-button]");
    const status = locate.querySelector("[data-locate-status]");
    const lat = document.getElementById("f-lat");
    const lon = document.getElementById("f-lon");
    locate.hidden = false;
    button.addEventListener("click", () => {
      status.textContent = button.dataset.waiting || "…";
      navigator.geolocation.getCurrentPosition(
        (position) => {
          lat.value = position.coords.latitude.toFixed(5);
          lon.value = position.coords.longitude.toFixed(5);
          status.textContent = `${button.dataset.found || "✓"} ${lat.value}, ${lon.value}`;
        },
        () => { status.textContent = button.dataset.failed || "✗"; },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
      );
    });
  }

  // The facility picker lists the chosen state's facilities first.
  const state = document.getElementById("f-state");
  const facility = document.getElementById("f-facility");
  if (state && facility) {
    const options = Array.from(facility.options).slice(1);
    const order = () => {
      const code = `${state.value} · `;
      const here = options.filter((o) => o.text.startsWith(code));
      const rest = options.filter((o) => !o.text.startsWith(code));
      for (const option of [...here, ...rest]) facility.appendChild(option);
    };
    state.addEventListener("change", order);
    order();
  }

  // Expiry in words and the phone's local time: "9:00 PM tonight (your time)". The page
  // carries the words in its language (admin/_expiry_words.html); evening starts at 5 PM,
  // as on the public pages.
  const lang = document.documentElement.lang || "en";
  function inWords(moment, words) {
    const time = moment.toLocaleTimeString(lang, { hour: "numeric", minute: "2-digit", hour12: true });
    const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
    const days = Math.round((day(moment) - day(new Date())) / 86400000);
    let phrase;
    if (days === 0) phrase = moment.getHours() >= 17 ? words.tonight : words.today;
    else if (days === 1) phrase = words.tomorrow;
    else if (days === -1) phrase = words.yesterday;
    else {
      const named = Math.abs(days) < 7
        ? moment.toLocaleDateString(lang, { weekday: "long" })
        : moment.toLocaleDateString(lang, { weekday: "long", month: "long", day: "numeric" });
      phrase = words.day.replace("DAY", named);
    }
    return `${phrase.replace("TIME", time)} ${words.local}`;
  }
  const words = document.getElementById("expiry-local");
  if (words) {
    const expires = document.getElementById("f-expires");
    const urgent = document.getElementById("f-urgent");
    const kinds = document.querySelectorAll("input[name=kind]");
    // The kinds that are always urgent calls, as the page marks them.
    const urgentKind = () => Array.from(kinds).some((k) => k.checked && k.closest(".urgent-kind"));
    const show = () => {
      // "Usual" (no value): 4 hours for an urgent call, else a day, as the server reads it.
      const hours = Number(expires.value) || (urgent.checked || urgentKind() ? 4 : 24);
      const moment = new Date(Date.now() + hours * 3600000);
      words.textContent = words.dataset.until.replace("WHEN", inWords(moment, words.dataset));
      words.hidden = false;
    };
    expires.addEventListener("change", show);
    urgent.addEventListener("change", show);
    for (const kind of kinds) kind.addEventListener("change", show);
    show();
  }
  for (const node of document.querySelectorAll("time[data-until]")) {
    node.textContent = inWords(new Date(node.dateTime), node.dataset);
  }
})();
