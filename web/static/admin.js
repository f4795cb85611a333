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

  // Expiry in words and the phone's local time: "Until 9:00 PM tonight".
  const lang = document.documentElement.lang || "en";
  const words = document.getElementById("expiry-local");
  function until(moment, source) {
    const now = new Date();
    const time = moment.toLocaleTimeString(lang, { hour: "numeric", minute: "2-digit" });
    const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
    const days = Math.round((day(moment) - day(now)) / 86400000);
    let when;
    if (days === 0) when = moment.getHours() >= 18 ? source.tonight : source.today;
    else if (days === 1) when = source.tomorrow;
    else when = moment.toLocaleDateString(lang, { weekday: "long", month: "long", day: "numeric" });
    return `${source.until.replace("TIME", `${time} ${when}`)} ${source.local}`;
  }
  if (words) {
    const expires = document.getElementById("f-expires");
    const show = () => {
      const hours = Number(expires.value);
      words.textContent = until(new Date(Date.now() + hours * 3600000), words.dataset);
      words.hidden = false;
    };
    expires.addEventListener("change", show);
    show();
  }
  const source = document.querySelector("[data-expiry-words]");
  for (const node of document.querySelectorAll("time[data-until]")) {
    if (source) node.textContent = until(new Date(node.dateTime), source.dataset);
  }
})();
