// The live quotes: one `quotes` subscription for every symbol on screen (the watchlist, the
// positions, the selected symbol), sent again when that set changes. After every reconnect it
// is sent with the last sequence seen of each symbol (`since`), so the server replays what the
// page missed meanwhile. Each quote lands in `state.quotes` and is announced as "quote".

import { socket } from "./api.js";
import * as Q from "./queries.js";
import { notify, state, subscribe } from "./store.js";
import { toast } from "./ui.js";

let streamKey = "";
let stopStream = null;

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
    error: (error) => toast(`Live prices: ${error.message}`, "bad"),
  });
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
  for (const key of ["symbols", "portfolio", "selected"]) subscribe(key, refreshStream);
}
