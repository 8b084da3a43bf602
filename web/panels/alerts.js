// Price alerts on the selected symbol: set one above or below a price, see the active ones,
// delete one. A fired alert becomes a notification and leaves the list.

import { call } from "../api.js";
import { format, placesOf } from "../decimal.js";
import * as Q from "../queries.js";
import { state, subscribe } from "../store.js";
import { $, showResult, toast } from "../ui.js";

const WORDS = { ABOVE: "above", BELOW: "below" };

async function createAlert(symbol, condition, threshold) {
  const variables = { symbol, condition: Q.ALERT_CONDITIONS[condition], threshold };
  try {
    const data = await call(Q.CREATE_PRICE_ALERT, variables);
    const outcome = Q.readAlertResult(data.createPriceAlert);
    if (!outcome.ok) {
      showResult("alert-result", `Alert refused: ${outcome.error}`, "rejected");
      return;
    }
    showResult("alert-result", `Alert set: ${symbol} ${condition} ${threshold}`, "ok");
    loadAlerts();
  } catch (error) {
    showResult("alert-result", `Alert not set: ${error.message}`, "rejected");
  }
}

function submit(event) {
  event.preventDefault();
  if (!state.token) {
    showResult("alert-result", "Sign in to set alerts.", "info");
    return;
  }
  const symbol = (state.selected || "").toUpperCase();
  createAlert(symbol, $("alert-condition").value, $("alert-threshold").value.trim());
}

async function deleteAlert(alert, button) {
  button.disabled = true;
  try {
    await call(Q.DELETE_PRICE_ALERT, { id: alert.id });
  } catch (error) {
    toast(`Alert not deleted: ${error.message}`, "bad");
  }
  loadAlerts();
}

function alertItem(alert) {
  const item = document.createElement("li");
  item.dataset.id = alert.id;
  const text = document.createElement("span");
  const threshold = format(alert.threshold, placesOf(alert.threshold));
  text.textContent = `${alert.instrument.symbol} ${WORDS[alert.condition]} ${threshold}`;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "remove";
  remove.title = "Delete this alert";
  remove.textContent = "×";
  remove.addEventListener("click", () => deleteAlert(alert, remove));
  item.append(text, remove);
  return item;
}

/** The active alerts, each with a delete button. */
async function loadAlerts() {
  if (!state.token) return;
  try {
    const alerts = (await call(Q.ALERTS)).alerts.filter((alert) => alert.active);
    if (state.token) $("alert-list").replaceChildren(...alerts.map(alertItem));
  } catch (error) {
    console.warn("alerts:", error.message);
  }
}

function updateForm() {
  $("alert-symbol").textContent = state.selected || "—";
  const quote = state.quotes.get(state.selected);
  if (quote && !$("alert-threshold").value) $("alert-threshold").placeholder = quote.price;
}

function onUser(user) {
  if (user) {
    loadAlerts();
    return;
  }
  $("alert-list").replaceChildren();
  $("alert-result").textContent = "";
}

export function mountAlerts() {
  $("alert-form").addEventListener("submit", submit);
  subscribe("selected", () => {
    $("alert-threshold").value = "";
    updateForm();
  });
  subscribe("quote", (quote) => quote.symbol === state.selected && updateForm());
  subscribe("alertsChanged", loadAlerts);
  subscribe("user", onUser);
}
