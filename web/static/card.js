// The Print button exists only where it can work: with scripts off it stays hidden and the
// page tells people to use the browser's own Print command.
"use strict";
(() => {
  const button = document.getElementById("print-card");
  if (!button || typeof window.print !== "function") return;
  button.addEventListener("click", () => window.print());
  button.hidden = false;
})();
