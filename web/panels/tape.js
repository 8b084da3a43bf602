// Time and sales: the selected symbol's newest prints, newest on top, coloured by who took
// liquidity (green: a buyer lifted the offer, red: a seller hit the bid). The last prints come
// from `recentTrades`, then each new one from the `trades` subscription, which after a
// reconnect resumes from the last print shown (`since`), so the tape has no holes.

import { call, socket } from "../api.js";
import { format, placesOf } from "../decimal.js";
import * as Q from "../queries.js";
import { subscribe } from "../store.js";
import { $, note } from "../ui.js";

/** What the tape shows, newest first, for tests and the curious. */
export const tapeState = { symbol: null, prints: [] };
let stopTrades = null;
const clock = { hour: "2-digit", minute: "2-digit", second: "2-digit" };

function printRow(print) {
  const row = document.createElement("tr");
  row.className = (print.aggressor || "").toLowerCase();
  const when = document.createElement("td");
  const time = document.createElement("time");
  time.dateTime = print.timestamp;
  time.textContent = new Date(print.timestamp).toLocaleTimeString([], clock);
  when.append(time);
  const price = document.createElement("td");
  price.className = "num price";
  price.textContent = format(print.price, placesOf(print.price));
  const size = document.createElement("td");
  size.className = "num";
  size.textContent = format(print.size, 0);
  row.append(when, price, size);
  return row;
}

/** Newer prints than the tape's newest go on top; the tape keeps TAPE_LENGTH of them. */
function add(symbol, prints) {
  if (symbol !== tapeState.symbol) return;
  const newest = tapeState.prints[0]?.sequence ?? -1;
  const fresh = prints.filter((print) => print.sequence > newest);
  if (!fresh.length) return;
  fresh.sort((a, b) => b.sequence - a.sequence);
  tapeState.prints = [...fresh, ...tapeState.prints].slice(0, Q.TAPE_LENGTH);
  $("tape-body").prepend(...fresh.map(printRow));
  const rows = $("tape-body").rows;
  while (rows.length > Q.TAPE_LENGTH) rows[rows.length - 1].remove();
}

async function show(symbol) {
  stopTrades?.();
  stopTrades = null;
  tapeState.symbol = symbol;
  tapeState.prints = [];
  $("tape-title").textContent = symbol ? `Time & sales · ${symbol}` : "Time & sales";
  $("tape-body").replaceChildren();
  note("tape-note", "");
  if (!symbol) return;
  try {
    const recent = await call(Q.RECENT_TRADES_QUERY, { symbol, first: Q.TAPE_LENGTH });
    add(symbol, recent.recentTrades);
  } catch (error) {
    note("tape-note", `Prints: ${error.message}`);
  }
  if (symbol !== tapeState.symbol) return; // another symbol was picked meanwhile
  const newest = () => tapeState.prints[0];
  const variables = () => ({
    symbols: [symbol],
    since: newest() ? [{ symbol, sequence: newest().sequence }] : [],
  });
  stopTrades = socket.subscribe(Q.TRADES_SUBSCRIPTION, variables, {
    next: (data) => add(symbol, [data.trades]),
    error: (error) => note("tape-note", `Prints: ${error.message}`),
  });
}

export function mountTape() {
  subscribe("selected", show);
}
