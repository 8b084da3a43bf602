// Instrument search: results by ticker or name as the visitor types; a pick (or Enter) adds the
// symbol to the watchlist. A ticker the search does not know can still be typed and entered.

import { call } from "../api.js";
import * as Q from "../queries.js";
import { state } from "../store.js";
import { $ } from "../ui.js";
import { addSymbol } from "./watchlist.js";

let timer = null;
let results = [];

function resultItem(instrument) {
  const item = document.createElement("li");
  const ticker = document.createElement("span");
  ticker.className = "ticker";
  ticker.textContent = instrument.symbol;
  const name = document.createElement("span");
  name.className = "muted";
  name.textContent = `${instrument.name} · ${instrument.exchange}`;
  item.append(ticker, name);
  item.addEventListener("mousedown", (event) => {
    event.preventDefault();
    pick(instrument);
  });
  return item;
}

function render() {
  $("search-results").replaceChildren(...results.map(resultItem));
  $("search-results").hidden = results.length === 0;
}

function pick(instrument) {
  $("search").value = "";
  results = [];
  render();
  addSymbol(instrument.symbol);
}

async function search(text) {
  results = [];
  if (text.trim()) {
    try {
      results = Q.readInstruments(await call(Q.INSTRUMENT_SEARCH, { search: text.trim() }));
    } catch (error) {
      console.warn("search:", error.message);
    }
  }
  for (const instrument of results) state.names.set(instrument.symbol, instrument.name);
  render();
}

function submit(event) {
  event.preventDefault();
  const text = $("search").value;
  const exact = results.find((i) => i.symbol === text.trim().toUpperCase());
  if (exact || results.length) pick(exact || results[0]);
  else if (text.trim()) {
    $("search").value = "";
    addSymbol(text);
  }
}

export function mountSearch() {
  $("search").addEventListener("input", (event) => {
    clearTimeout(timer);
    timer = setTimeout(() => search(event.target.value), 180);
  });
  $("search").addEventListener("blur", () => setTimeout(() => ($("search-results").hidden = true), 100));
  $("search-form").addEventListener("submit", submit);
}
