// The live quotes: one `quotes` subscription for every symbol on screen (the watchlist, the
// positions, the selected symbol), sent again when that set changes. After every reconnect it
// is sent with the last sequence seen of each symbol (`since`), so the server replays what the
// page missed meanwhile. Each quote lands in `state.quotes` and is announced as "quote".
// The server refuses the whole stream when one symbol is no instrument's (a list this browser
// stored before symbols were checked): those are announced as "unknownSymbols", for the
// watchlist to drop, and the stream goes on with the rest.

import { socket } from "./api.js";
import { unknownSymbols } from "./instruments.js";
import * as Q from "./queries.js";
import { notify, state, subscribe } from "./store.js";
import { toast } from "./ui.js";

let streamKey = "";
let stopStream = null;
let refreshQueued = false;

function wantedSymbols() {
  const wanted = new Set(state.symbols);
  for (const position of state.portfolio?.positions || []) wanted.add(position.symbol);
  if (state.selected) wanted.add(state.selected);
  return [...wanted];
}

function lastSequences(symbols) {
  return symbols
    .filter((symbol) => state.quotes.has(symbol))
    .map((symbol) => ({ symbol, sequence: state.quotes.get(symbol).sequence }));
}

function refreshStream() {
  const symbols = wantedSymbols();
  const key = symbols.join(",");
  if (key === streamKey) return;
  streamKey = key;
  stopStream?.();
  stopStream = null;
  if (!symbols.length) return;
  const variables = () => ({ symbols, since: lastSequences(symbols) });
  stopStream = socket.subscribe(Q.QUOTES_SUBSCRIPTION, variables, {
    next: (data) => receiveQuote(data.quotes),
    error: (error) => streamRefused(error, key),
  });
}

/** Changes made together (a list and its selection) make one new stream, not one each. */
function queueRefresh() {
  if (refreshQueued) return;
  refreshQueued = true;
  queueMicrotask(() => {
    refreshQueued = false;
    refreshStream();
  });
}

async function unknownAmong(symbols) {
  try {
    return await unknownSymbols(symbols);
  } catch (error) {
    console.warn("instrument lookup:", error.message);
    return [];
  }
}

/** The stream `key` was refused: without its unknown symbols it starts again, else it is said. */
async function streamRefused(error, key) {
  const badInput = error.codes?.has("BAD_USER_INPUT");
  const unknown = badInput ? await unknownAmong(key.split(",")) : [];
  if (key !== streamKey) return; // the symbols changed meanwhile: a new stream runs
  if (unknown.length) notify("unknownSymbols", unknown);
  refreshStream();
  if (key === streamKey) toast(`Live prices: ${error.message}`, "bad");
}

/** A quote from the stream (or a snapshot): kept unless older than the one the page has. */
export function receiveQuote(quote) {
  const known = state.quotes.get(quote.symbol);
  if (known && Number(known.sequence) > Number(quote.sequence)) return;
  if (known) state.missedTicks += Math.max(Number(quote.sequence) - Number(known.sequence) - 1, 0);
  state.quotes.set(quote.symbol, quote);
  notify("quote", quote);
}

export function mountQuotes() {
  for (const key of ["symbols", "portfolio", "selected"]) subscribe(key, queueRefresh);
}
