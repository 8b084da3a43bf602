// Open orders, each with a Cancel button, and the live `orderUpdates` stream: every change to
// one of my orders is toasted and reloads the portfolio. The stream resumes after the last
// event it delivered (`afterEvent`), so an order changed while the socket was down is not missed.

import { call, socket } from "../api.js";
import { format, placesOf } from "../decimal.js";
import * as Q from "../queries.js";
import { notify, state, subscribe } from "../store.js";
import { $, describeOrder, tableRow, toast } from "../ui.js";

let stopUpdates = null;

async function cancelOrder(order, button) {
  button.disabled = true;
  try {
    const result = (await call(Q.CANCEL_ORDER, { id: order.id })).cancelOrder;
    if (result.__typename === "CancelRejected") toast(`Not cancelled: ${result.message}`, "bad");
    else toast(describeOrder(result), "ok");
  } catch (error) {
    toast(`Not cancelled: ${error.message}`, "bad");
  } finally {
    button.disabled = false;
    notify("ordersChanged");
  }
}

function orderRow(order) {
  const side = order.side === "BUY" ? "Buy" : "Sell";
  const row = tableRow([
    `${side} ${format(order.quantity, 0)} ${order.instrument.symbol}`,
    order.limitPrice ? format(order.limitPrice, placesOf(order.limitPrice)) : "—",
    format(order.reservedCash, 2),
  ]);
  row.dataset.id = order.id;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "cancel";
  button.textContent = "Cancel";
  button.addEventListener("click", () => cancelOrder(order, button));
  const action = document.createElement("td");
  action.className = "num";
  action.appendChild(button);
  row.appendChild(action);
  return row;
}

function render(portfolio) {
  const orders = portfolio?.openOrders || [];
  $("open-orders").hidden = orders.length === 0;
  $("orders-body").replaceChildren(...orders.map(orderRow));
}

function onUpdate({ orderUpdates: order }) {
  state.lastEvent.orders = order.eventSequence;
  toast(describeOrder(order), order.status === "REJECTED" ? "bad" : "ok");
  notify("ordersChanged");
}

/** Signed in: order updates from the account's newest event on (sent again on reconnect). */
function onUser(user) {
  stopUpdates?.();
  stopUpdates = null;
  if (!user) return;
  state.lastEvent.orders = user.eventSequence;
  stopUpdates = socket.subscribe(Q.ORDER_UPDATES, () => ({ after: state.lastEvent.orders }), {
    next: onUpdate,
    error: (error) => console.warn("order updates:", error.message),
  });
}

export function mountOrders() {
  subscribe("portfolio", render);
  subscribe("user", onUser);
}
