// The connection pill and the offline banner: "Live", "Connecting…", or "Offline" with a
// countdown to the next attempt; the watchlist greys while its prices are stale.

import { subscribe } from "../store.js";
import { $ } from "../ui.js";

let countdown = null;

function showOffline(retryAt) {
  const tick = () => {
    const seconds = retryAt ? Math.max(0, Math.ceil((retryAt - Date.now()) / 1000)) : 0;
    $("connection-text").textContent = "Offline";
    $("offline-retry").textContent = seconds ? `Reconnecting in ${seconds}s…` : "Reconnecting…";
  };
  tick();
  countdown = setInterval(tick, 500);
}

function show({ connection, retryAt }) {
  $("connection").dataset.state = connection;
  const offline = connection === "offline";
  $("offline-banner").hidden = !offline;
  document.querySelector(".watch").classList.toggle("stale", offline);
  clearInterval(countdown);
  if (offline) showOffline(retryAt);
  else $("connection-text").textContent = connection === "online" ? "Live" : "Connecting…";
}

export function mountConnection() {
  subscribe("connection", show);
}
