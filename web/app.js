// The board's wiring: account, watchlist, live quotes, chart, order ticket, portfolio and
// notifications. Every GraphQL document lives in queries.js.

import { Board } from "./board.js";
import { CandleChart } from "./chart.js";
import { add, compare, format, mul, placesOf, sub } from "./decimal.js";
import { GraphQLError, SubscriptionClient, request } from "./graphql.js";
import * as Q from "./queries.js";

const $ = (id) => document.getElementById(id);
const DEFAULT_SYMBOLS = ["AAPL", "MSFT", "NVDA", "GOOGL", "AMZN"];
const SYMBOL = /^[A-Z][A-Z0-9.\-]{0,31}$/;

const state = {
  token: localStorage.getItem("trado.token"),
  user: null,
  watchlistId: null, // set when the watchlist lives on the server
  symbols: [],
  names: new Map(),
  quotes: new Map(), // symbol -> latest Quote
  missedTicks: 0, // sequence jumps the quote stream showed: ticks this page never saw
  selected: null,
  portfolio: null, // {cash, positions: [{symbol, quantity, averagePrice}]}
  quotesKey: "",
  stopQuotes: null,
  stopChart: null,
  accountStreams: [],
  lastEvent: { orders: null, notes: null }, // eventSequence last seen on each account stream
  notificationsLoaded: false, // the first load is history: no toasts for it
};

// ---------------------------------------------------------------- helpers

function describe(error) {
  return error.message || String(error);
}

function toast(text, kind = "") {
  const item = document.createElement("div");
  item.className = `toast ${kind}`;
  item.textContent = text;
  $("toasts").appendChild(item);
  setTimeout(() => item.remove(), 5000);
}

function note(id, text) {
  const element = $(id);
  element.textContent = text || "";
  element.hidden = !text;
}

async function call(query, variables) {
  const token = state.token;
  try {
    return await request(query, variables, token);
  } catch (error) {
    // the token expired (or the account went away): say so and continue signed out
    if (token && token === state.token && error instanceof GraphQLError && error.unauthenticated) {
      signOut();
      toast("Your session ended: sign in again.", "bad");
    }
    throw error;
  }
}

// ---------------------------------------------------------------- connection state

let countdown = null;

const connectionLog = []; // every state the socket went through, for tests and debugging

function showConnection(connection, retryAt) {
  connectionLog.push(connection);
  const pill = $("connection");
  pill.dataset.state = connection;
  const offline = connection === "offline";
  $("offline-banner").hidden = !offline;
  document.querySelector(".watch").classList.toggle("stale", offline);
  clearInterval(countdown);
  if (connection === "online") $("connection-text").textContent = "Live";
  else if (connection === "connecting") $("connection-text").textContent = "Connecting…";
  else {
    const tick = () => {
      const seconds = retryAt ? Math.max(0, Math.ceil((retryAt - Date.now()) / 1000)) : 0;
      const text = seconds ? `Reconnecting in ${seconds}s…` : "Reconnecting…";
      $("connection-text").textContent = "Offline";
      $("offline-retry").textContent = text;
    };
    tick();
    countdown = setInterval(tick, 500);
  }
}

const socket = new SubscriptionClient({ token: state.token, onState: showConnection });

// ---------------------------------------------------------------- live quotes

const board = new Board($("board-body"), {
  onSelect: (symbol) => selectSymbol(symbol),
  onRemove: (symbol) => removeSymbol(symbol),
});

function wantedSymbols() {
  const wanted = new Set(state.symbols);
  for (const position of state.portfolio?.positions || []) wanted.add(position.symbol);
  if (state.selected) wanted.add(state.selected);
  return [...wanted];
}

/** One quotes subscription for every symbol on screen; re-sent when that set changes. */
function refreshQuoteStream() {
  const symbols = wantedSymbols();
  const key = symbols.join(",");
  if (key === state.quotesKey) return;
  state.quotesKey = key;
  state.stopQuotes?.();
  state.stopQuotes = null;
  if (!symbols.length) return;
  // Sent again after every reconnect: with the last sequence seen of each symbol, so the
  // server replays what the board missed meanwhile (the chart's live bars stay whole).
  const variables = () => ({ symbols, since: lastSequences(symbols) });
  state.stopQuotes = socket.subscribe(Q.QUOTES_SUBSCRIPTION, variables, {
    next: (data) => onQuote(data.quotes),
    error: (error) => toast(`Live prices: ${describe(error)}`, "bad"),
  });
}

function lastSequences(symbols) {
  return symbols
    .filter((symbol) => state.quotes.has(symbol))
    .map((symbol) => ({ symbol, sequence: state.quotes.get(symbol).sequence }));
}

function onQuote(quote) {
  const known = state.quotes.get(quote.symbol);
  if (known && Number(known.sequence) > Number(quote.sequence)) return; // an older snapshot
  if (known) state.missedTicks += Math.max(Number(quote.sequence) - Number(known.sequence) - 1, 0);
  state.quotes.set(quote.symbol, quote);
  board.update(quote);
  if (quote.symbol === state.selected) {
    $("chart-price").textContent = format(quote.price, placesOf(quote.price));
    updateEstimate();
    updateAlertForm();
  }
  schedulePortfolio();
}

// ---------------------------------------------------------------- watchlist

function saveLocalWatchlist() {
  if (!state.watchlistId) localStorage.setItem("trado.watchlist", JSON.stringify(state.symbols));
}

function loadLocalWatchlist() {
  try {
    const saved = JSON.parse(localStorage.getItem("trado.watchlist"));
    if (Array.isArray(saved)) return saved.filter((s) => SYMBOL.test(s));
  } catch {
    // a damaged entry falls back to the defaults
  }
  return [...DEFAULT_SYMBOLS];
}

/** Names for the board's symbols the page has not named yet (the visitor's default list). */
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
    console.warn("instrument names:", describe(error));
  }
}

function showWatchlist() {
  loadNames(state.symbols);
  board.setSymbols(state.symbols, state.names);
  $("board-empty").hidden = state.symbols.length > 0;
  $("watch-source").textContent = state.watchlistId
    ? "saved to your account"
    : "kept in this browser";
  refreshQuoteStream();
  if (!state.selected && state.symbols.length) selectSymbol(state.symbols[0]);
}

async function addSymbol(raw) {
  const symbol = raw.trim().toUpperCase();
  if (!SYMBOL.test(symbol)) {
    note("search-note", `"${raw}" is not a ticker symbol.`);
    return;
  }
  note("search-note", "");
  if (state.symbols.includes(symbol)) {
    selectSymbol(symbol);
    return;
  }
  if (state.watchlistId) {
    try {
      const data = await call(Q.ADD_TO_WATCHLIST, { watchlistId: state.watchlistId, symbol });
      state.symbols = Q.watchlistSymbols(data.addToWatchlist);
    } catch (error) {
      note("search-note", `Could not add ${symbol}: ${describe(error)}`);
      return;
    }
  } else {
    state.symbols = [...state.symbols, symbol];
    saveLocalWatchlist();
  }
  showWatchlist();
  selectSymbol(symbol);
}

async function removeSymbol(symbol) {
  if (state.watchlistId) {
    try {
      const data = await call(Q.REMOVE_FROM_WATCHLIST, { watchlistId: state.watchlistId, symbol });
      state.symbols = Q.watchlistSymbols(data.removeFromWatchlist);
    } catch (error) {
      toast(`Could not remove ${symbol}: ${describe(error)}`, "bad");
      return;
    }
  } else {
    state.symbols = state.symbols.filter((s) => s !== symbol);
    saveLocalWatchlist();
  }
  showWatchlist();
}

/** Signed in: use the first server watchlist (made from this browser's list if none). */
async function loadServerWatchlist() {
  try {
    let lists = (await call(Q.WATCHLISTS)).watchlists;
    if (!lists.length) {
      const created = (await call(Q.CREATE_WATCHLIST, { name: "My watchlist" })).createWatchlist;
      let current = created;
      for (const symbol of state.symbols) {
        const data = await call(Q.ADD_TO_WATCHLIST, { watchlistId: created.id, symbol });
        current = data.addToWatchlist;
      }
      lists = [current];
    }
    state.watchlistId = lists[0].id;
    state.symbols = Q.watchlistSymbols(lists[0]);
    for (const item of lists[0].items) state.names.set(item.instrument.symbol, item.instrument.name);
    showWatchlist();
    // the list's quotes paint the board before the stream's first message
    for (const item of lists[0].items) {
      if (item.quote && !state.quotes.has(item.quote.symbol)) onQuote(item.quote);
    }
    return;
  } catch (error) {
    state.watchlistId = null;
    $("watch-source").textContent = `server watchlists: ${describe(error)}`;
  }
  showWatchlist();
}

// ---------------------------------------------------------------- instrument search

let searchTimer = null;
let searchResults = [];

function renderResults() {
  const list = $("search-results");
  list.replaceChildren(
    ...searchResults.map((instrument) => {
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
        pickResult(instrument);
      });
      return item;
    }),
  );
  list.hidden = searchResults.length === 0;
}

function pickResult(instrument) {
  state.names.set(instrument.symbol, instrument.name);
  board.setName(instrument.symbol, instrument.name);
  $("search").value = "";
  searchResults = [];
  renderResults();
  addSymbol(instrument.symbol);
}

async function search(text) {
  if (!text.trim()) {
    searchResults = [];
    renderResults();
    return;
  }
  try {
    searchResults = Q.readInstruments(await call(Q.INSTRUMENT_SEARCH, { search: text.trim() }));
    for (const i of searchResults) state.names.set(i.symbol, i.name);
  } catch (error) {
    searchResults = [];
    console.warn("search:", describe(error));
  }
  renderResults();
}

$("search").addEventListener("input", (event) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => search(event.target.value), 180);
});
$("search").addEventListener("blur", () => setTimeout(() => ($("search-results").hidden = true), 100));
$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("search").value;
  const exact = searchResults.find((i) => i.symbol === text.trim().toUpperCase());
  if (exact || searchResults.length) pickResult(exact || searchResults[0]);
  else if (text.trim()) {
    $("search").value = "";
    addSymbol(text);
  }
});

// ---------------------------------------------------------------- chart

const chart = new CandleChart($("chart"));

function selectSymbol(symbol) {
  if (state.selected === symbol) return;
  state.selected = symbol;
  board.select(symbol);
  $("chart-title").textContent = symbol;
  const quote = state.quotes.get(symbol);
  $("chart-price").textContent = quote ? format(quote.price, placesOf(quote.price)) : "";
  $("ticket-symbol").value = symbol;
  $("alert-threshold").value = "";
  updateTicketButton();
  updateAlertForm();
  state.stopChart?.();
  state.stopChart = null;
  chart.setBars([]);
  note("chart-note", "");
  refreshQuoteStream();
  loadServerCandles(symbol);
}

/** History from the `candles` query, then the forming bar live from the subscription. */
async function loadServerCandles(symbol) {
  const variables = { symbol, interval: Q.CANDLE_INTERVAL };
  let bars = [];
  try {
    bars = (await call(Q.CANDLES_QUERY, variables)).candles.map(Q.readCandle);
  } catch (error) {
    console.warn("candles:", describe(error));
  }
  if (state.selected !== symbol) return;
  chart.setBars(bars);
  note("chart-note", "1-minute bars, live from the server");
  state.stopChart = socket.subscribe(Q.CANDLES_SUBSCRIPTION, variables, {
    next: (data) => chart.upsert(Q.readCandle(data.candles)),
    error: (error) => note("chart-note", `Live bars: ${describe(error)}`),
  });
}

// ---------------------------------------------------------------- order ticket

function ticketValues() {
  const form = $("ticket-form");
  return {
    side: form.elements.side.value,
    type: $("ticket-type").value,
    symbol: $("ticket-symbol").value.trim().toUpperCase(),
    quantity: $("ticket-quantity").value.trim(),
    limitPrice: $("ticket-limit").value.trim(),
  };
}

function updateTicketButton() {
  const { side, symbol } = ticketValues();
  const button = $("ticket-submit");
  button.textContent = `${side === "BUY" ? "Buy" : "Sell"} ${symbol}`.trim();
  button.classList.toggle("buy", side === "BUY");
  button.classList.toggle("sell", side === "SELL");
  updateEstimate();
}

function updateEstimate() {
  const { side, type, symbol, quantity, limitPrice } = ticketValues();
  const quote = state.quotes.get(symbol);
  const price = type === "LIMIT" ? limitPrice : quote && (side === "BUY" ? quote.ask : quote.bid);
  const valid = /^\d+(\.\d+)?$/;
  $("ticket-estimate").textContent =
    price && valid.test(quantity) && valid.test(price)
      ? `≈ ${format(mul(quantity, price), 2)} USD at ${format(price, placesOf(price))}`
      : "";
}

$("ticket-form").addEventListener("input", () => {
  $("limit-field").hidden = $("ticket-type").value !== "LIMIT";
  updateTicketButton();
});

function showResult(text, kind) {
  const result = $("ticket-result");
  result.textContent = text;
  result.className = `result ${kind}`;
}

$("ticket-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!state.token) {
    showResult("Sign in to place orders.", "info");
    openAuth();
    return;
  }
  const values = ticketValues();
  const input = {
    symbol: values.symbol,
    side: values.side,
    type: values.type,
    quantity: values.quantity,
    clientOrderId: crypto.randomUUID(),
  };
  if (values.type === "LIMIT") input.limitPrice = values.limitPrice;
  $("ticket-submit").disabled = true;
  try {
    const result = (await call(Q.PLACE_ORDER, { input })).placeOrder;
    if (result.__typename === "OrderRejected") {
      const words = Q.REJECT_REASONS[result.reason] || result.reason.replaceAll("_", " ").toLowerCase();
      showResult(`Rejected: ${words}. ${result.message}`, "rejected");
    } else {
      showResult(describeOrder(result), "ok");
      loadPortfolio();
    }
  } catch (error) {
    showResult(`Not sent: ${describe(error)}`, "rejected");
  } finally {
    $("ticket-submit").disabled = false;
  }
});

function describeOrder(order) {
  const what = `${order.side === "BUY" ? "Buy" : "Sell"} ${format(order.quantity, 0)} ${order.instrument.symbol}`;
  const status = order.status.toLowerCase().replaceAll("_", " ");
  const price = order.averageFillPrice || order.limitPrice;
  const at = price ? ` at ${format(price, placesOf(price))}` : "";
  const why = order.rejectReason ? ` (${order.rejectReason})` : "";
  return `${what}: ${status}${at}${why}`;
}

// ---------------------------------------------------------------- portfolio

let portfolioFrame = null;
let portfolioRequests = 0; // only the latest answer is shown (answers may arrive out of order)

async function loadPortfolio() {
  if (!state.token) return;
  const ticket = ++portfolioRequests;
  try {
    const portfolio = Q.readPortfolio(await call(Q.PORTFOLIO));
    if (ticket !== portfolioRequests || !state.token) return;
    state.portfolio = portfolio;
    note("portfolio-note", portfolio.positions.length ? "" : "No positions yet.");
  } catch (error) {
    if (ticket !== portfolioRequests) return;
    state.portfolio = null;
    note("portfolio-note", `Portfolio: ${describe(error)}`);
  }
  refreshQuoteStream();
  renderPortfolio();
  renderOpenOrders();
}

/** Resting orders, each with a Cancel button. */
function renderOpenOrders() {
  const orders = state.portfolio?.openOrders || [];
  $("open-orders").hidden = orders.length === 0;
  $("orders-body").replaceChildren(
    ...orders.map((order) => {
      const row = document.createElement("tr");
      row.dataset.id = order.id;
      const side = order.side === "BUY" ? "Buy" : "Sell";
      const cells = [
        `${side} ${format(order.quantity, 0)} ${order.instrument.symbol}`,
        order.limitPrice ? format(order.limitPrice, placesOf(order.limitPrice)) : "—",
        format(order.reservedCash, 2),
      ];
      cells.forEach((text, index) => {
        const cell = document.createElement("td");
        cell.textContent = text;
        if (index) cell.className = "num";
        row.appendChild(cell);
      });
      const action = document.createElement("td");
      action.className = "num";
      const button = document.createElement("button");
      button.type = "button";
      button.className = "cancel";
      button.textContent = "Cancel";
      button.addEventListener("click", () => cancelOrder(order, button));
      action.appendChild(button);
      row.appendChild(action);
      return row;
    }),
  );
}

async function cancelOrder(order, button) {
  button.disabled = true;
  try {
    const result = (await call(Q.CANCEL_ORDER, { id: order.id })).cancelOrder;
    if (result.__typename === "CancelRejected") {
      toast(`Not cancelled: ${result.message}`, "bad");
    } else {
      toast(describeOrder(result), "ok");
    }
  } catch (error) {
    toast(`Not cancelled: ${describe(error)}`, "bad");
  } finally {
    button.disabled = false;
    loadPortfolio();
  }
}

function schedulePortfolio() {
  if (!state.portfolio || portfolioFrame) return;
  portfolioFrame = requestAnimationFrame(() => {
    portfolioFrame = null;
    renderPortfolio();
  });
}

/** Values and P&L at the latest prices, computed exactly from Decimal strings. */
function renderPortfolio() {
  const body = $("positions-body");
  const portfolio = state.portfolio;
  if (!portfolio) {
    body.replaceChildren();
    for (const id of ["equity", "cash", "pnl"]) $(id).textContent = "—";
    return;
  }
  // as the server counts it: free cash, cash held by open BUYs, positions at market (at cost
  // before a first quote)
  let equity = add(portfolio.cash, portfolio.reservedCash);
  let pnl = "0";
  const rows = portfolio.positions.map((position) => {
    const quote = state.quotes.get(position.symbol);
    const last = quote ? quote.price : position.lastPrice;
    const value = last ? mul(position.quantity, last) : mul(position.quantity, position.averagePrice);
    const gain = last ? mul(position.quantity, sub(last, position.averagePrice)) : "0";
    equity = add(equity, value);
    pnl = add(pnl, gain);
    const row = document.createElement("tr");
    row.dataset.symbol = position.symbol;
    const cells = [
      position.symbol,
      format(position.quantity, 0),
      format(position.averagePrice, 2),
      last ? format(last, placesOf(last)) : "—",
      format(value, 2),
      format(gain, 2, { sign: true }),
    ];
    cells.forEach((text, index) => {
      const cell = document.createElement("td");
      cell.textContent = text;
      if (index) cell.className = "num";
      if (index === 5) cell.classList.add(compare(gain, "0") >= 0 ? "up" : "down");
      row.appendChild(cell);
    });
    return row;
  });
  body.replaceChildren(...rows);
  $("equity").textContent = format(equity, 2);
  $("cash").textContent = format(portfolio.cash, 2);
  $("pnl").textContent = format(pnl, 2, { sign: true });
  $("pnl").className = compare(pnl, "0") >= 0 ? "up" : "down";
}

// ---------------------------------------------------------------- notifications

/** Show one notification (once per id); true when it was new to the page. */
function addNotification(item, { announce = true } = {}) {
  const list = $("notification-list");
  if (item.id && list.querySelector(`[data-id="${CSS.escape(String(item.id))}"]`)) return false;
  const entry = document.createElement("li");
  if (item.id) entry.dataset.id = item.id;
  entry.dataset.kind = item.kind;
  entry.classList.toggle("unread", !item.readAt);
  const time = document.createElement("time");
  const when = item.createdAt ? new Date(item.createdAt) : new Date();
  time.textContent = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const kind = document.createElement("span");
  kind.className = `kind kind-${String(item.kind).toLowerCase()}`;
  kind.textContent = Q.NOTIFICATION_KINDS[item.kind] || item.kind;
  const text = document.createElement("span");
  text.className = "message";
  text.textContent = item.message;
  entry.append(time, kind, text);
  list.prepend(entry);
  note("notifications-note", "");
  if (announce) toast(item.message, "ok");
  // a fill (of a resting limit order too) changes the portfolio; a fired alert leaves the list
  if (announce && item.kind === "PRICE_ALERT") loadAlerts();
  else if (announce) loadPortfolio();
  return true;
}

let notificationsInFlight = null;

/** The latest notifications; ones the page had not shown yet are announced. */
function loadNotifications() {
  if (!state.token) return Promise.resolve();
  notificationsInFlight ||= (async () => {
    try {
      const items = Q.readNotifications(await call(Q.NOTIFICATIONS));
      const announce = state.notificationsLoaded;
      for (const item of items.reverse()) addNotification(item, { announce });
      state.notificationsLoaded = true;
      if (!$("notification-list").children.length) note("notifications-note", "No notifications yet.");
    } catch (error) {
      note("notifications-note", `Notifications: ${describe(error)}`);
    } finally {
      notificationsInFlight = null;
    }
  })();
  return notificationsInFlight;
}

// ---------------------------------------------------------------- price alerts

$("alert-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = $("alert-result");
  if (!state.token) {
    result.textContent = "Sign in to set alerts.";
    result.className = "result info";
    return;
  }
  const symbol = (state.selected || "").toUpperCase();
  const threshold = $("alert-threshold").value.trim();
  const condition = Q.ALERT_CONDITIONS[$("alert-condition").value];
  try {
    const data = await call(Q.CREATE_PRICE_ALERT, { symbol, condition, threshold });
    const outcome = Q.readAlertResult(data.createPriceAlert);
    result.textContent = outcome.ok
      ? `Alert set: ${symbol} ${$("alert-condition").value} ${threshold}`
      : `Alert refused: ${outcome.error}`;
    result.className = `result ${outcome.ok ? "ok" : "rejected"}`;
    if (outcome.ok) loadAlerts();
  } catch (error) {
    result.textContent = `Alert not set: ${describe(error)}`;
    result.className = "result rejected";
  }
});

/** The active alerts (a fired one becomes a notification), each with a delete button. */
async function loadAlerts() {
  if (!state.token) {
    $("alert-list").replaceChildren();
    return;
  }
  let alerts;
  try {
    alerts = (await call(Q.ALERTS)).alerts.filter((alert) => alert.active);
  } catch (error) {
    console.warn("alerts:", describe(error));
    return;
  }
  const words = { ABOVE: "above", BELOW: "below" };
  $("alert-list").replaceChildren(
    ...alerts.map((alert) => {
      const item = document.createElement("li");
      item.dataset.id = alert.id;
      const text = document.createElement("span");
      const threshold = format(alert.threshold, placesOf(alert.threshold));
      text.textContent = `${alert.instrument.symbol} ${words[alert.condition]} ${threshold}`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove";
      remove.title = "Delete this alert";
      remove.textContent = "×";
      remove.addEventListener("click", async () => {
        remove.disabled = true;
        try {
          await call(Q.DELETE_PRICE_ALERT, { id: alert.id });
        } catch (error) {
          toast(`Alert not deleted: ${describe(error)}`, "bad");
        }
        loadAlerts();
      });
      item.append(text, remove);
      return item;
    }),
  );
}

function updateAlertForm() {
  $("alert-symbol").textContent = state.selected || "—";
  const quote = state.quotes.get(state.selected);
  if (quote && !$("alert-threshold").value) $("alert-threshold").placeholder = quote.price;
}

// ---------------------------------------------------------------- account

function openAuth() {
  $("auth-error").textContent = "";
  $("auth-dialog").showModal();
  $("auth-email").focus();
}

$("sign-in").addEventListener("click", openAuth);
$("auth-cancel").addEventListener("click", () => $("auth-dialog").close());
$("sign-out").addEventListener("click", () => signOut());
$("copy-token").addEventListener("click", async () => {
  // GraphiQL (at /graphql) takes the same token in its Headers tab
  const headers = JSON.stringify({ Authorization: `Bearer ${state.token}` });
  try {
    await navigator.clipboard.writeText(headers);
    toast("Copied: paste it into GraphiQL's Headers tab", "ok");
  } catch {
    toast(headers);
  }
});

$("auth-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const mode = event.submitter?.value === "register" ? "register" : "login";
  const variables = { email: $("auth-email").value.trim(), password: $("auth-password").value };
  try {
    const data = await request(mode === "register" ? Q.REGISTER : Q.LOGIN, variables);
    const auth = Q.readAuth(data[mode]);
    if (auth.error) {
      $("auth-error").textContent = auth.error;
      return;
    }
    $("auth-dialog").close();
    $("auth-password").value = "";
    await signedIn(auth.token, auth.user);
    toast(mode === "register" ? `Welcome, ${auth.user.email}` : `Signed in as ${auth.user.email}`, "ok");
  } catch (error) {
    $("auth-error").textContent = describe(error);
  }
});

async function signedIn(token, user) {
  state.token = token;
  state.user = user;
  localStorage.setItem("trado.token", token);
  $("account-email").textContent = user.email;
  $("sign-in").hidden = true;
  $("sign-out").hidden = false;
  $("copy-token").hidden = false;
  socket.setToken(token);
  for (const stop of state.accountStreams) stop();
  state.accountStreams = [];
  state.notificationsLoaded = false;
  $("notification-list").replaceChildren();
  startAccountStreams(user);
  await Promise.all([loadServerWatchlist(), loadPortfolio(), loadNotifications(), loadAlerts()]);
}

/** Order updates and notifications live, from the account's newest event at sign-in on. */
function startAccountStreams(user) {
  state.lastEvent = { orders: user.eventSequence, notes: user.eventSequence };
  state.accountStreams.push(
    socket.subscribe(Q.ORDER_UPDATES, () => resumeAfter("orders"), {
      next: (data) => {
        const order = data.orderUpdates;
        state.lastEvent.orders = order.eventSequence;
        toast(describeOrder(order), order.status === "REJECTED" ? "bad" : "ok");
        loadPortfolio();
      },
      error: (error) => console.warn("order updates:", describe(error)),
    }),
    socket.subscribe(Q.NOTIFICATIONS_SUBSCRIPTION, () => resumeAfter("notes"), {
      next: (data) => {
        state.lastEvent.notes = data.notifications.eventSequence;
        addNotification(data.notifications);
      },
      error: (error) => note("notifications-note", `Live notifications: ${describe(error)}`),
    }),
  );
}

/** Each account stream resumes after the last event it delivered (sent again on reconnect). */
function resumeAfter(stream) {
  const last = state.lastEvent[stream];
  return last == null ? {} : { after: last };
}

function signOut() {
  state.token = null;
  state.user = null;
  state.watchlistId = null;
  state.portfolio = null;
  portfolioRequests += 1; // an answer still on its way belongs to the old account
  renderOpenOrders();
  localStorage.removeItem("trado.token");
  for (const stop of state.accountStreams) stop();
  state.accountStreams = [];
  socket.setToken(null);
  $("account-email").textContent = "";
  $("sign-in").hidden = false;
  $("sign-out").hidden = true;
  $("copy-token").hidden = true;
  $("notification-list").replaceChildren();
  $("alert-list").replaceChildren();
  $("alert-result").textContent = "";
  note("portfolio-note", "Sign in to trade with paper cash.");
  note("notifications-note", "Alerts and order fills appear here.");
  state.symbols = loadLocalWatchlist();
  showWatchlist();
  renderPortfolio();
}

async function restoreSession() {
  if (!state.token) return;
  try {
    const me = (await call(Q.ME)).me;
    if (me) {
      await signedIn(state.token, me);
      return;
    }
  } catch {
    // an expired token: continue signed out
  }
  state.token = null;
  localStorage.removeItem("trado.token");
  socket.setToken(null);
}

// ---------------------------------------------------------------- start

state.symbols = loadLocalWatchlist();
showWatchlist();
updateTicketButton();
restoreSession();

// A hook for end-to-end tests and the curious: drop the socket, read the connection state.
window.trado = {
  dropSocket: () => socket.drop(),
  connectionState: () => socket.state,
  connectionLog,
  chartBars: () => chart.bars.map((bar) => ({ ...bar })),
  state,
};
