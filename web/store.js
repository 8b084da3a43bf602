// The board's one store: a plain state object every panel reads, and named events panels
// subscribe to. A panel changes a value with `update` (its listeners hear the new value) and
// announces an in-place change or a happening with `notify`. No framework, no copies.

export const state = {
  token: localStorage.getItem("trado.token"),
  user: null, // {id, email, eventSequence} while signed in
  watchlistId: null, // set when the watchlist lives on the server
  symbols: [], // the watchlist, in order
  names: new Map(), // symbol -> instrument name
  quotes: new Map(), // symbol -> latest Quote
  missedTicks: 0, // sequence jumps the quote stream showed: ticks this page never saw
  selected: null, // the symbol on the chart
  portfolio: null, // {cash, reservedCash, positions, openOrders} while signed in
  lastEvent: { orders: null, notes: null }, // eventSequence last seen on each account stream
  connectionLog: [], // every state the socket went through, for tests and debugging
};

const listeners = new Map(); // event name -> Set of functions

/** Call `listener(detail)` on every `notify(name, detail)`; returns a function that stops it. */
export function subscribe(name, listener) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(listener);
  return () => listeners.get(name).delete(listener);
}

export function notify(name, detail) {
  for (const listener of listeners.get(name) || []) listener(detail);
}

/** Set `state[key]` and tell its listeners; setting the value it already has does nothing. */
export function update(key, value) {
  if (Object.is(state[key], value)) return;
  state[key] = value;
  notify(key, value);
}
