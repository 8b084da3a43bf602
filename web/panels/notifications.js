// Notifications: the latest ones loaded at sign-in, then each new one live from the
// `notifications` subscription (toasted), which resumes after the last event it delivered
// (`afterEvent`), so a reconnect misses none. A fill reloads the portfolio, a fired alert the
// alerts.

import { call, socket } from "../api.js";
import * as Q from "../queries.js";
import { notify, state, subscribe } from "../store.js";
import { $, note, toast } from "../ui.js";

let stopStream = null;

function entry(item) {
  const element = document.createElement("li");
  element.dataset.id = item.id;
  element.dataset.kind = item.kind;
  element.classList.toggle("unread", !item.readAt);
  const time = document.createElement("time");
  const clock = { hour: "2-digit", minute: "2-digit", second: "2-digit" };
  time.textContent = new Date(item.createdAt).toLocaleTimeString([], clock);
  const kind = document.createElement("span");
  kind.className = `kind kind-${item.kind.toLowerCase()}`;
  kind.textContent = Q.NOTIFICATION_KINDS[item.kind];
  const text = document.createElement("span");
  text.className = "message";
  text.textContent = item.message;
  element.append(time, kind, text);
  return element;
}

/** Show a notification once (by id); a new live one is toasted and acted on. */
function addNotification(item, { live }) {
  const list = $("notification-list");
  if (list.querySelector(`[data-id="${CSS.escape(String(item.id))}"]`)) return;
  list.prepend(entry(item));
  note("notifications-note", "");
  if (!live) return;
  toast(item.message, "ok");
  notify(item.kind === "PRICE_ALERT" ? "alertsChanged" : "ordersChanged");
}

async function loadNotifications(user) {
  try {
    const items = Q.readNotifications(await call(Q.NOTIFICATIONS));
    if (state.user !== user) return; // signed out meanwhile
    for (const item of items.reverse()) addNotification(item, { live: false });
    if (!$("notification-list").children.length) note("notifications-note", "No notifications yet.");
  } catch (error) {
    note("notifications-note", `Notifications: ${error.message}`);
  }
}

function startStream(user) {
  state.lastEvent.notes = user.eventSequence;
  const variables = () => ({ after: state.lastEvent.notes });
  stopStream = socket.subscribe(Q.NOTIFICATIONS_SUBSCRIPTION, variables, {
    next: ({ notifications: item }) => {
      state.lastEvent.notes = item.eventSequence;
      addNotification(item, { live: true });
    },
    error: (error) => note("notifications-note", `Live notifications: ${error.message}`),
  });
}

function onUser(user) {
  stopStream?.();
  stopStream = null;
  $("notification-list").replaceChildren();
  if (!user) {
    note("notifications-note", "Alerts and order fills appear here.");
    return;
  }
  startStream(user);
  loadNotifications(user);
}

export function mountNotifications() {
  subscribe("user", onUser);
}
