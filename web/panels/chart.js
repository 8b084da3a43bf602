// The chart panel: the selected symbol's 1-minute bars, the history from the `candles` query,
// then the forming bar (and each next one) live from the `candles` subscription; the title
// shows the symbol's last price.

import { call, socket } from "../api.js";
import { CandleChart } from "../chart.js";
import { format, placesOf } from "../decimal.js";
import * as Q from "../queries.js";
import { state, subscribe } from "../store.js";
import { $, note } from "../ui.js";

let chart = null;
let stopBars = null;

function showPrice(quote) {
  $("chart-price").textContent = quote ? format(quote.price, placesOf(quote.price)) : "";
}

async function loadHistory(variables) {
  try {
    return (await call(Q.CANDLES_QUERY, variables)).candles.map(Q.readCandle);
  } catch (error) {
    console.warn("candles:", error.message);
    return [];
  }
}

async function show(symbol) {
  stopBars?.();
  stopBars = null;
  $("chart-title").textContent = symbol;
  showPrice(state.quotes.get(symbol));
  chart.setBars([]);
  note("chart-note", "");
  if (!symbol) return; // nothing selected: an empty chart
  const variables = { symbol, interval: Q.CANDLE_INTERVAL };
  const history = await loadHistory(variables);
  if (state.selected !== symbol) return; // another symbol was picked meanwhile
  chart.setBars(history);
  note("chart-note", "1-minute bars, live from the server");
  stopBars = socket.subscribe(Q.CANDLES_SUBSCRIPTION, variables, {
    next: (data) => chart.upsert(Q.readCandle(data.candles)),
    error: (error) => note("chart-note", `Live bars: ${error.message}`),
  });
}

export function mountChart() {
  chart = new CandleChart($("chart"));
  subscribe("selected", show);
  subscribe("quote", (quote) => quote.symbol === state.selected && showPrice(quote));
}

/** The bars on screen, copied (for tests and the curious). */
export function chartBars() {
  return chart.bars.map((bar) => ({ ...bar }));
}
