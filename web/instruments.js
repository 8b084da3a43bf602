// Instruments by symbol, from the schema's `instrument(symbol:)` lookup: the names the board
// shows beside tickers, and whether a typed or stored ticker is an instrument at all. A symbol
// the page already has a name for (every name comes from the server) is known without asking.

import { call } from "./api.js";
import * as Q from "./queries.js";
import { state } from "./store.js";

/** Ask the server about `symbols`, NAMES_PER_QUERY a query, into `found`. */
async function askServer(symbols, found) {
  for (let start = 0; start < symbols.length; start += Q.NAMES_PER_QUERY) {
    const asked = symbols.slice(start, start + Q.NAMES_PER_QUERY);
    const { query, variables } = Q.instrumentNames(asked);
    const instruments = Q.readInstrumentNames(await call(query, variables), asked);
    asked.forEach((symbol, i) => found.set(symbol, instruments[i]));
  }
}

/** Map of each of `symbols` to its {symbol, name}, or to null where no instrument has it. */
export async function lookUp(symbols) {
  const found = new Map();
  const unnamed = [];
  for (const symbol of symbols) {
    if (state.names.has(symbol)) found.set(symbol, { symbol, name: state.names.get(symbol) });
    else unnamed.push(symbol);
  }
  await askServer(unnamed, found);
  for (const instrument of found.values()) {
    if (instrument) state.names.set(instrument.symbol, instrument.name);
  }
  return found;
}

/** The ones of `symbols` no instrument has. */
export async function unknownSymbols(symbols) {
  const found = await lookUp(symbols);
  return symbols.filter((symbol) => !found.get(symbol));
}
