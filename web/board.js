// The watchlist board: one row per symbol with last price, change and change-% against the
// previous session's close (the quote's `day`, kept by the server: "—" before a symbol has
// one), bid and ask. A row flashes green or red when its price moves; a halted one is marked.

import { compare, format, placesOf } from "./decimal.js";

export class Board {
  constructor(body, { onSelect, onRemove }) {
    this.body = body;
    this.onSelect = onSelect;
    this.onRemove = onRemove;
    this.rows = new Map(); // symbol -> {row, cells, last}
    this.selected = null;
  }

  /** Show exactly `symbols`, in order, keeping the rows (and their prices) that stay. */
  setSymbols(symbols, names = new Map()) {
    for (const [symbol, entry] of this.rows) {
      if (!symbols.includes(symbol)) {
        entry.row.remove();
        this.rows.delete(symbol);
      }
    }
    for (const symbol of symbols) {
      const entry = this.rows.get(symbol) || this.createRow(symbol, names.get(symbol));
      this.setName(symbol, names.get(symbol));
      this.body.appendChild(entry.row); // appending an existing row moves it into order
    }
    this.select(this.selected);
  }

  createRow(symbol, name) {
    const row = document.createElement("tr");
    row.dataset.symbol = symbol;
    row.innerHTML = `
      <td class="sym"><span class="ticker"></span><span class="name"></span></td>
      <td class="num price">—</td>
      <td class="num change">—</td>
      <td class="num pct">—</td>
      <td class="num bid">—</td>
      <td class="num ask">—</td>
      <td class="act"><button type="button" class="remove" title="Remove from watchlist">×</button></td>`;
    row.querySelector(".ticker").textContent = symbol;
    row.querySelector(".name").textContent = name || "";
    const cells = {
      price: row.querySelector(".price"),
      change: row.querySelector(".change"),
      pct: row.querySelector(".pct"),
      bid: row.querySelector(".bid"),
      ask: row.querySelector(".ask"),
    };
    row.addEventListener("click", (event) => {
      if (event.target.closest(".remove")) this.onRemove(symbol);
      else this.onSelect(symbol);
    });
    const entry = { row, cells, last: null };
    this.rows.set(symbol, entry);
    return entry;
  }

  setName(symbol, name) {
    const entry = this.rows.get(symbol);
    if (entry && name) entry.row.querySelector(".name").textContent = name;
  }

  select(symbol) {
    this.selected = symbol;
    for (const [s, entry] of this.rows) entry.row.classList.toggle("selected", s === symbol);
  }

  /** A new quote: update the row and flash it in the direction of the move. */
  update(quote) {
    const entry = this.rows.get(quote.symbol);
    if (!entry) return;
    const places = placesOf(quote.price);
    const { change, changePercent } = quote.day || {};
    const direction = change == null ? 0 : compare(change, "0");
    entry.cells.price.textContent = format(quote.price, places);
    entry.cells.change.textContent = change == null ? "—" : format(change, places, { sign: true });
    entry.cells.pct.textContent =
      changePercent == null ? "—" : `${format(changePercent, 2, { sign: true })}%`;
    entry.row.classList.toggle("halted", Boolean(quote.halted));
    entry.row.title = quote.halted ? "Trading halted" : "";
    entry.cells.bid.textContent = format(quote.bid, places);
    entry.cells.ask.textContent = format(quote.ask, places);
    for (const cell of [entry.cells.change, entry.cells.pct]) {
      cell.classList.toggle("up", direction > 0);
      cell.classList.toggle("down", direction < 0);
    }
    if (entry.last !== null) {
      const move = compare(quote.price, entry.last);
      if (move !== 0) this.flash(entry.cells.price, move > 0 ? "flash-up" : "flash-down");
    }
    entry.last = quote.price;
    entry.row.dataset.sequence = String(quote.sequence);
  }

  flash(cell, name) {
    cell.classList.remove("flash-up", "flash-down");
    void cell.offsetWidth; // restart the animation when the same direction repeats
    cell.classList.add(name);
  }
}
