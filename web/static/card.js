// The Print button shows only where it can work; until then (and with scripts off) the page
// tells people to use the browser's own Print command.
"use strict";
(() => {
  const button = document.getElementById("print-card");
  if (!button || typeof window.print !== "function") return;
  button.addEventListener("click", () => window.print());
  button.hidden = false;
  const hint = document.getElementById("print-hint");
  if (hint) hint.hidden = true;
})();
