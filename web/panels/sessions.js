// A session badge per exchange in the top bar (OPEN, PRE, POST, CLOSED), live from the
// `marketStatus` subscription: the server sends the status now and then each change, and the
// badge's title says when the next change is due.

import { socket } from "../api.js";
import * as Q from "../queries.js";
import { $ } from "../ui.js";

function badge(exchange) {
  const element = document.createElement("span");
  element.className = "session";
  element.dataset.exchange = exchange;
  element.dataset.status = "";
  element.textContent = exchange;
  $("sessions").appendChild(element);
  return element;
}

function show(element, exchange, status) {
  element.dataset.status = status.status;
  element.textContent = `${exchange} ${status.status}`;
  const next = new Date(status.nextChange).toLocaleString();
  element.title = `${status.exchange}: ${status.nextStatus} at ${next}`;
}

export function mountSessions() {
  for (const exchange of Q.SESSION_EXCHANGES) {
    const element = badge(exchange);
    socket.subscribe(Q.MARKET_STATUS_SUBSCRIPTION, { exchange }, {
      next: (data) => show(element, exchange, data.marketStatus),
      error: () => {
        element.dataset.status = "";
      },
    });
  }
}
