// The watchlist panel: a board row per watched symbol, live from the quotes. Signed out the list
// is kept in this browser; signed in it is the account's first watchlist on the server (made
// from this browser's list when the account has none).

import { call } from "../api.js";
import { Board } from "../board.js";
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
  const unnamed = symbols.filter((symbol) => !state.names.has(symbol));
  if (!unnamed.length) return;
  const { query, variables } = Q.instrumentNames(unnamed);
  try {
    for (const instrument of Q.readInstrumentNames(await call(query, variables))) {
      state.names.set(instrument.symbol, instrument.name);
      board.setName(instrument.symbol, instrument.name);
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

/** The list after adding or removing `symbol`: `local` signed out, the server's signed in. */
async function change(mutation, symbol, local) {
  if (!state.watchlistId) {
    localStorage.setItem("trado.watchlist", JSON.stringify(local));
    update("symbols", local);
    return;
  }
  const data = await call(mutation, { watchlistId: state.watchlistId, symbol });
  const [watchlist] = Object.values(data); // the mutation's one field
  update("symbols", Q.watchlistSymbols(watchlist));
}

/** Watch `raw` (a ticker as typed) and select it. */
export async function addSymbol(raw) {
  const symbol = raw.trim().toUpperCase();
  if (!SYMBOL.test(symbol)) {
    note("search-note", `"${raw}" is not a ticker symbol.`);
    return;
  }
  note("search-note", "");
  if (!state.symbols.includes(symbol)) {
    try {
      await change(Q.ADD_TO_WATCHLIST, symbol, [...state.symbols, symbol]);
    } catch (error) {
      note("search-note", `Could not add ${symbol}: ${error.message}`);
      return;
    }
  }
  update("selected", symbol);
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
  let list = (await call(Q.CREATE_WATCHLIST, { name: "My watchlist" })).createWatchlist;
  for (const symbol of state.symbols) {
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
}

/** The visitor's list, until a session says otherwise. */
export function startWatchlist() {
  update("symbols", localWatchlist());
}
