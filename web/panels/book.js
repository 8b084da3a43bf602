// The depth ladder: the selected symbol's order book, ten levels a side, from the `book`
// subscription: the exchange's own where the feed carries depth, else simulated around the
// quote (the title says which). Each update must follow the last one seen (its previousSequence is that
// sequence); when one does not, an update was missed, so the panel subscribes again and starts
// from a fresh snapshot (a reconnect does the same by itself).

import { socket } from "../api.js";
import { format, placesOf } from "../decimal.js";
import * as Q from "../queries.js";
import { subscribe } from "../store.js";
import { $, note } from "../ui.js";

/** What the ladder shows, for tests and the curious. */
export const bookState = { symbol: null, sequence: null, updates: 0, resyncs: 0, book: null };
let stopBook = null;

function sizeCell(size, largest, side) {
  const cell = document.createElement("td");
  cell.className = `num size ${side}-size`;
  const bar = document.createElement("span");
  bar.className = "bar";
  bar.style.width = `${Math.round((100 * Number(size)) / largest)}%`;
  cell.append(bar, format(size, placesOf(size)));
  return cell;
}

function priceCell(price, side) {
  const cell = document.createElement("td");
  cell.className = `num ${side}`;
  cell.textContent = price ? format(price, placesOf(price)) : "";
  return cell;
}

function render(book) {
  const levels = Math.max(book.bids.length, book.asks.length);
  const largest = Math.max(1, ...[...book.bids, ...book.asks].map((level) => Number(level.size)));
  const rows = [];
  for (let index = 0; index < levels; index += 1) {
    const bid = book.bids[index];
    const ask = book.asks[index];
    const row = document.createElement("tr");
    row.append(
      bid ? sizeCell(bid.size, largest, "bid") : document.createElement("td"),
      priceCell(bid?.price, "bid"),
      priceCell(ask?.price, "ask"),
      ask ? sizeCell(ask.size, largest, "ask") : document.createElement("td"),
    );
    rows.push(row);
  }
  $("book-body").replaceChildren(...rows);
}

function receive(symbol, book) {
  if (symbol !== bookState.symbol) return;
  const follows = book.snapshot || bookState.sequence === null;
  if (!follows && book.previousSequence !== bookState.sequence) {
    bookState.resyncs += 1; // an update never arrived: start again from a snapshot
    show(symbol);
    return;
  }
  bookState.sequence = book.sequence;
  bookState.updates += 1;
  bookState.book = book;
  const source = book.simulated ? "simulated" : "exchange";
  $("book-title").textContent = `Depth · ${symbol} · ${source}`;
  render(book);
}

function show(symbol) {
  stopBook?.();
  stopBook = null;
  Object.assign(bookState, { symbol, sequence: null, book: null });
  $("book-title").textContent = symbol ? `Depth · ${symbol}` : "Depth";
  $("book-body").replaceChildren();
  note("book-note", "");
  if (!symbol) return;
  const variables = { symbol, depth: Q.BOOK_DEPTH };
  stopBook = socket.subscribe(Q.BOOK_SUBSCRIPTION, variables, {
    next: (data) => receive(symbol, data.book),
    error: (error) => note("book-note", `Depth: ${error.message}`),
  });
}

export function mountBook() {
  subscribe("selected", show);
  // After a reconnect the stream opens with a snapshot again: take it as the new start.
  subscribe("connection", ({ connection }) => {
    if (connection !== "online") bookState.sequence = null;
  });
}
