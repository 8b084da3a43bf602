// The order ticket: buy or sell, market or limit, with an estimate at the live price; a
// rejection is shown in words. Signed out, it asks for an account.

import { call } from "../api.js";
import { format, mul, placesOf } from "../decimal.js";
import * as Q from "../queries.js";
import { notify, state, subscribe } from "../store.js";
import { $, describeOrder, showResult } from "../ui.js";
import { openAuth } from "./account.js";

const AMOUNT = /^\d+(\.\d+)?$/;

function ticketValues() {
  return {
    side: $("ticket-form").elements.side.value,
    type: $("ticket-type").value,
    symbol: $("ticket-symbol").value.trim().toUpperCase(),
    quantity: $("ticket-quantity").value.trim(),
    limitPrice: $("ticket-limit").value.trim(),
  };
}

function updateEstimate() {
  const { side, type, symbol, quantity, limitPrice } = ticketValues();
  const quote = state.quotes.get(symbol);
  const price = type === "LIMIT" ? limitPrice : quote && (side === "BUY" ? quote.ask : quote.bid);
  $("ticket-estimate").textContent =
    price && AMOUNT.test(quantity) && AMOUNT.test(price)
      ? `≈ ${format(mul(quantity, price), 2)} USD at ${format(price, placesOf(price))}`
      : "";
}

function updateTicket() {
  const { side, symbol, type } = ticketValues();
  const button = $("ticket-submit");
  button.textContent = `${side === "BUY" ? "Buy" : "Sell"} ${symbol}`.trim();
  button.classList.toggle("buy", side === "BUY");
  button.classList.toggle("sell", side === "SELL");
  $("limit-field").hidden = type !== "LIMIT";
  updateEstimate();
}

function orderInput() {
  const { side, type, symbol, quantity, limitPrice } = ticketValues();
  const input = { symbol, side, type, quantity, clientOrderId: crypto.randomUUID() };
  if (type === "LIMIT") input.limitPrice = limitPrice;
  return input;
}

function showOutcome(result) {
  if (result.__typename === "OrderRejected") {
    const words = Q.REJECT_REASONS[result.reason] || result.reason.replaceAll("_", " ").toLowerCase();
    showResult("ticket-result", `Rejected: ${words}. ${result.message}`, "rejected");
    return;
  }
  showResult("ticket-result", describeOrder(result), "ok");
  notify("ordersChanged");
}

async function submit(event) {
  event.preventDefault();
  if (!state.token) {
    showResult("ticket-result", "Sign in to place orders.", "info");
    openAuth();
    return;
  }
  $("ticket-submit").disabled = true;
  try {
    showOutcome((await call(Q.PLACE_ORDER, { input: orderInput() })).placeOrder);
  } catch (error) {
    showResult("ticket-result", `Not sent: ${error.message}`, "rejected");
  } finally {
    $("ticket-submit").disabled = false;
  }
}

export function mountTicket() {
  $("ticket-form").addEventListener("input", updateTicket);
  $("ticket-form").addEventListener("submit", submit);
  subscribe("selected", (symbol) => {
    $("ticket-symbol").value = symbol;
    updateTicket();
  });
  subscribe("quote", (quote) => quote.symbol === ticketValues().symbol && updateEstimate());
  updateTicket();
}
