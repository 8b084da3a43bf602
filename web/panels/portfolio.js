// The portfolio panel: equity, cash and unrealized P&L, and a row per position, valued at the
// live prices exactly (Decimal strings). Reloaded from the server whenever orders change.

import { call } from "../api.js";
import { add, compare, format, mul, placesOf, sub } from "../decimal.js";
import * as Q from "../queries.js";
import { state, subscribe, update } from "../store.js";
import { $, note, tableRow } from "../ui.js";

let frame = null;
let requests = 0; // only the latest answer is shown (answers may arrive out of order)

async function loadPortfolio() {
  if (!state.token) return;
  const ticket = ++requests;
  try {
    const portfolio = Q.readPortfolio(await call(Q.PORTFOLIO));
    if (ticket !== requests || !state.token) return;
    note("portfolio-note", portfolio.positions.length ? "" : "No positions yet.");
    update("portfolio", portfolio);
  } catch (error) {
    if (ticket !== requests) return;
    note("portfolio-note", `Portfolio: ${error.message}`);
    update("portfolio", null);
  }
}

/** A position's row at `last` (its value at cost before a first price). */
function positionRow(position, last) {
  const value = mul(position.quantity, last || position.averagePrice);
  const gain = last ? mul(position.quantity, sub(last, position.averagePrice)) : "0";
  const row = tableRow([
    position.symbol,
    format(position.quantity, 0),
    format(position.averagePrice, 2),
    last ? format(last, placesOf(last)) : "—",
    format(value, 2),
    format(gain, 2, { sign: true }),
  ]);
  row.dataset.symbol = position.symbol;
  row.lastChild.classList.add(compare(gain, "0") >= 0 ? "up" : "down");
  return { row, value, gain };
}

/** As the server counts equity: free cash, cash held by open BUYs, positions at market. */
function render(portfolio) {
  if (!portfolio) {
    $("positions-body").replaceChildren();
    for (const id of ["equity", "cash", "pnl"]) $(id).textContent = "—";
    return;
  }
  let equity = add(portfolio.cash, portfolio.reservedCash);
  let pnl = "0";
  const rows = portfolio.positions.map((position) => {
    const last = state.quotes.get(position.symbol)?.price || position.lastPrice;
    const { row, value, gain } = positionRow(position, last);
    equity = add(equity, value);
    pnl = add(pnl, gain);
    return row;
  });
  $("positions-body").replaceChildren(...rows);
  $("equity").textContent = format(equity, 2);
  $("cash").textContent = format(portfolio.cash, 2);
  $("pnl").textContent = format(pnl, 2, { sign: true });
  $("pnl").className = compare(pnl, "0") >= 0 ? "up" : "down";
}

/** At most one redraw a frame, however fast the quotes come. */
function scheduleRender() {
  if (!state.portfolio || frame) return;
  frame = requestAnimationFrame(() => {
    frame = null;
    render(state.portfolio);
  });
}

function onUser(user) {
  if (user) {
    loadPortfolio();
    return;
  }
  requests += 1; // an answer still on its way belongs to the old account
  note("portfolio-note", "Sign in to trade with paper cash.");
  update("portfolio", null);
}

export function mountPortfolio() {
  subscribe("portfolio", render);
  subscribe("quote", scheduleRender);
  subscribe("ordersChanged", loadPortfolio);
  subscribe("user", onUser);
}
