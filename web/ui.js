// Small DOM helpers the panels share: elements by id, notes, toasts, result lines, table rows,
// and an order in words.

import { format, placesOf } from "./decimal.js";

export const $ = (id) => document.getElementById(id);

/** Show `text` in the note `id`, or hide the note when there is none. */
export function note(id, text) {
  const element = $(id);
  element.textContent = text || "";
  element.hidden = !text;
}

/** A message in the corner for five seconds; `kind` is "ok" or "bad". */
export function toast(text, kind = "") {
  const item = document.createElement("div");
  item.className = `toast ${kind}`;
  item.textContent = text;
  $("toasts").appendChild(item);
  setTimeout(() => item.remove(), 5000);
}

/** A form's result line: `kind` is "ok", "rejected" or "info". */
export function showResult(id, text, kind) {
  const result = $(id);
  result.textContent = text;
  result.className = `result ${kind}`;
}

/** A table row of text cells, every one after the first a number (right-aligned). */
export function tableRow(texts) {
  const row = document.createElement("tr");
  texts.forEach((text, index) => {
    const cell = document.createElement("td");
    cell.textContent = text;
    if (index) cell.className = "num";
    row.appendChild(cell);
  });
  return row;
}

/** "Buy 10 JPM: filled at 249.04" */
export function describeOrder(order) {
  const side = order.side === "BUY" ? "Buy" : "Sell";
  const what = `${side} ${format(order.quantity, 0)} ${order.instrument.symbol}`;
  const status = order.status.toLowerCase().replaceAll("_", " ");
  const price = order.averageFillPrice || order.limitPrice;
  const at = price ? ` at ${format(price, placesOf(price))}` : "";
  const why = order.rejectReason ? ` (${order.rejectReason})` : "";
  return `${what}: ${status}${at}${why}`;
}
