// The watchlist panel: a board row per watched symbol, live from the quotes. Signed out the list
// is kept in this browser; signed in it is the account's first watchlist on the server (made
// from this browser's list when the account has none). A symbol is added only once the server
// says an instrument has it; one stored before that check is dropped when the stream finds it.

import { call } from "../api.js";
import { Board } from "../board.js";
import { lookUp, unknownSymbols } from "../instruments.js";
import * as Q from "../queries.js";
import { receiveQuote } from "../quotes.js";
import { state, subscribe, update } from "../store.js";
import { $, note, toast } from "../ui.js";

const DEFAULT_SYMBOLS = ["AAPL", "MSFT", "NVDA", "GOOGL", "AMZN"];
const SYMBOL = /^[A-Z][A-Z0-9.\-]{0,31}$/;
let board = null;

function localWatchlist() {
  try {
    const saved = JSON.parse(localStorage.getItem("trado.watchlist"));
    if (Array.isArray(saved)) return saved.filter((s) => SYMBOL.test(s));
  } catch {
    // a damaged entry falls back to the defaults
  }
  return [...DEFAULT_SYMBOLS];
}

/** Names for the symbols the page has not named yet (a visitor's default list). */
async function loadNames(symbols) {
  if (symbols.every((symbol) => state.names.has(symbol))) return;
  try {
    for (const instrument of (await lookUp(symbols)).values()) {
      if (instrument) board.setName(instrument.symbol, instrument.name);
    }
  } catch (error) {
    console.warn("instrument names:", error.message);
  }
}

function show(symbols) {
  loadNames(symbols);
  board.setSymbols(symbols, state.names);
  $("board-empty").hidden = symbols.length > 0;
  $("watch-source").textContent = state.watchlistId ? "saved to your account" : "kept in this browser";
  if (!state.selected && symbols.length) update("selected", symbols[0]);
}

function saveLocal(symbols) {
  localStorage.setItem("trado.watchlist", JSON.stringify(symbols));
  update("symbols", symbols);
}

/** The list after adding or removing `symbol`: `local` signed out, the server's signed in. */
async function change(mutation, symbol, local) {
  if (!state.watchlistId) {
    saveLocal(local);
    return;
  }
  const data = await call(mutation, { watchlistId: state.watchlistId, symbol });
  const [watchlist] = Object.values(data); // the mutation's one field
  update("symbols", Q.watchlistSymbols(watchlist));
}

/** Add `symbol` once the server says an instrument has it; false (and a note) when none does. */
async function watch(symbol) {
  if (!(await lookUp([symbol])).get(symbol)) {
    note("search-note", `No instrument has the symbol ${symbol}: nothing was added.`);
    return false;
  }
  if (!state.symbols.includes(symbol)) {
    await change(Q.ADD_TO_WATCHLIST, symbol, [...state.symbols, symbol]);
  }
  return true;
}

/** Watch `raw` (a ticker as typed) and select it. */
export async function addSymbol(raw) {
  const symbol = raw.trim().toUpperCase();
  if (!SYMBOL.test(symbol)) {
    note("search-note", `"${raw}" is not a ticker symbol.`);
    return;
  }
  note("search-note", "");
  try {
    if (!state.symbols.includes(symbol) && !(await watch(symbol))) return;
  } catch (error) {
    note("search-note", `Could not add ${symbol}: ${error.message}`);
    return;
  }
  update("selected", symbol);
}

/** Symbols the quotes stream found no instrument for: off this browser's list and the chart. */
function dropUnknown(unknown) {
  const dropped = state.symbols.filter((symbol) => unknown.includes(symbol));
  if (unknown.includes(state.selected)) {
    update("selected", state.symbols.find((symbol) => !unknown.includes(symbol)) ?? null);
  }
  if (!dropped.length || state.watchlistId) return; // the server's list holds instruments only
  saveLocal(state.symbols.filter((symbol) => !unknown.includes(symbol)));
  toast(`No instrument has ${dropped.join(", ")}: removed from your watchlist.`, "bad");
}

async function removeSymbol(symbol) {
  try {
    await change(Q.REMOVE_FROM_WATCHLIST, symbol, state.symbols.filter((s) => s !== symbol));
  } catch (error) {
    toast(`Could not remove ${symbol}: ${error.message}`, "bad");
  }
}

async function serverWatchlist() {
  const lists = (await call(Q.WATCHLISTS)).watchlists;
  if (lists.length) return lists[0];
  const unknown = await unknownSymbols(state.symbols); // refused, one would stop the copy
  let list = (await call(Q.CREATE_WATCHLIST, { name: "My watchlist" })).createWatchlist;
  for (const symbol of state.symbols.filter((s) => !unknown.includes(s))) {
    list = (await call(Q.ADD_TO_WATCHLIST, { watchlistId: list.id, symbol })).addToWatchlist;
  }
  return list;
}

async function loadServerWatchlist() {
  try {
    const list = await serverWatchlist();
    state.watchlistId = list.id;
    for (const item of list.items) state.names.set(item.instrument.symbol, item.instrument.name);
    update("symbols", Q.watchlistSymbols(list));
    // the list's quotes paint the board before the stream's first message
    for (const item of list.items) {
      if (item.quote && !state.quotes.has(item.quote.symbol)) receiveQuote(item.quote);
    }
  } catch (error) {
    $("watch-source").textContent = `server watchlists: ${error.message}`;
  }
}

function onUser(user) {
  if (user) {
    loadServerWatchlist();
    return;
  }
  state.watchlistId = null;
  update("symbols", localWatchlist());
}

export function mountWatchlist() {
  board = new Board($("board-body"), {
    onSelect: (symbol) => update("selected", symbol),
    onRemove: removeSymbol,
  });
  subscribe("symbols", show);
  subscribe("selected", (symbol) => board.select(symbol));
  subscribe("quote", (quote) => board.update(quote));
  subscribe("user", onUser);
  subscribe("unknownSymbols", dropUnknown);
}

/** The visitor's list, until a session says otherwise. */
export function startWatchlist() {
  update("symbols", localWatchlist());
}
