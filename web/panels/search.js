// Instrument search: results by ticker or name as the visitor types; a pick (or Enter) adds the
// symbol to the watchlist. Enter before the results of what is typed have come adds the typed
// ticker itself (the watchlist refuses one no instrument has), never a result of older text.

import { call } from "../api.js";
import * as Q from "../queries.js";
import { state } from "../store.js";
import { $ } from "../ui.js";
import { addSymbol } from "./watchlist.js";

let timer = null;
let results = [];
let resultsFor = ""; // the text `results` answer

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
  const asked = text.trim();
  let found = [];
  if (asked) {
    try {
      found = Q.readInstruments(await call(Q.INSTRUMENT_SEARCH, { search: asked }));
    } catch (error) {
      console.warn("search:", error.message);
    }
  }
  if (asked !== $("search").value.trim()) return; // the text changed meanwhile: stale results
  results = found;
  resultsFor = asked;
  for (const instrument of results) state.names.set(instrument.symbol, instrument.name);
  render();
}

function submit(event) {
  event.preventDefault();
  const text = $("search").value;
  const current = resultsFor === text.trim() ? results : [];
  const exact = current.find((i) => i.symbol === text.trim().toUpperCase());
  if (exact || current.length) pick(exact || current[0]);
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
