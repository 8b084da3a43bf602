// Every GraphQL document the board sends, and the few functions that read the shapes those
// documents return. When the server's schema settles, aligning the page is a change here only.

// ---------------------------------------------------------------- live data (on the server now)

export const QUOTES_SUBSCRIPTION = `
  subscription Quotes($symbols: [String!]!) {
    quotes(symbols: $symbols) { symbol price bid ask volume timestamp sequence }
  }`;

export const QUOTES_QUERY = `
  query Quotes($symbols: [String!]!) {
    quotes(symbols: $symbols) { symbol price bid ask volume timestamp sequence }
  }`;

// The chart's bars from the server; the page builds bars from quotes when these are missing.
export const CANDLE_INTERVAL = "ONE_MINUTE";
export const CANDLE_INTERVAL_MS = 60_000;

export const CANDLES_QUERY = `
  query Candles($symbol: String!, $interval: CandleInterval!) {
    candles(symbol: $symbol, interval: $interval) { start open high low close volume }
  }`;

export const CANDLES_SUBSCRIPTION = `
  subscription Candles($symbol: String!, $interval: CandleInterval!) {
    candles(symbol: $symbol, interval: $interval) { start open high low close volume }
  }`;

/** A candle as the chart draws it: {start: ms, open, high, low, close} as Numbers. */
export function readCandle(candle) {
  return {
    start: Date.parse(candle.start),
    open: Number(candle.open),
    high: Number(candle.high),
    low: Number(candle.low),
    close: Number(candle.close),
  };
}

// ---------------------------------------------------------------- instruments

export const INSTRUMENT_SEARCH = `
  query Search($search: String!) {
    instruments(search: $search, first: 8) {
      edges { node { symbol name exchange sector } }
    }
  }`;

export function readInstruments(data) {
  return data.instruments.edges.map((edge) => edge.node);
}

// ---------------------------------------------------------------- accounts

const AUTH_RESULT = `
  __typename
  ... on AuthPayload { token user { id email } }
  ... on AuthError { message }`;

export const REGISTER = `
  mutation Register($email: String!, $password: String!) {
    register(email: $email, password: $password) { ${AUTH_RESULT} }
  }`;

export const LOGIN = `
  mutation Login($email: String!, $password: String!) {
    login(email: $email, password: $password) { ${AUTH_RESULT} }
  }`;

/** {token, user} on success, {error} when the server refused (AuthError). */
export function readAuth(result) {
  if (result.__typename === "AuthPayload") return { token: result.token, user: result.user };
  return { error: result.message || "Sign-in refused" };
}

export const ME = `query Me { me { id email } }`;

// ---------------------------------------------------------------- watchlists

const WATCHLIST_FIELDS = `id name items { instrument { symbol name } }`;

export const WATCHLISTS = `query Watchlists { watchlists { ${WATCHLIST_FIELDS} } }`;

export const CREATE_WATCHLIST = `
  mutation CreateWatchlist($name: String!) { createWatchlist(name: $name) { ${WATCHLIST_FIELDS} } }`;

export const ADD_WATCHLIST_ITEM = `
  mutation AddWatchlistItem($watchlistId: ID!, $symbol: String!) {
    addWatchlistItem(watchlistId: $watchlistId, symbol: $symbol) { ${WATCHLIST_FIELDS} }
  }`;

export const REMOVE_WATCHLIST_ITEM = `
  mutation RemoveWatchlistItem($watchlistId: ID!, $symbol: String!) {
    removeWatchlistItem(watchlistId: $watchlistId, symbol: $symbol) { ${WATCHLIST_FIELDS} }
  }`;

/** The symbols of a watchlist, in its order. */
export function watchlistSymbols(watchlist) {
  return watchlist.items.map((item) => item.instrument.symbol);
}

// ---------------------------------------------------------------- orders and portfolio

const ORDER_FIELDS = `id clientOrderId status side type quantity limitPrice instrument { symbol }`;

export const PLACE_ORDER = `
  mutation PlaceOrder($input: PlaceOrderInput!) {
    placeOrder(input: $input) {
      __typename
      ... on Order { ${ORDER_FIELDS} }
      ... on OrderRejected { reason message }
    }
  }`;

export const ORDER_UPDATES = `subscription OrderUpdates { orderUpdates { ${ORDER_FIELDS} } }`;

export const PORTFOLIO = `
  query Portfolio {
    portfolio {
      cash equity
      positions { instrument { symbol } quantity averagePrice marketValue unrealizedPnl }
    }
  }`;

/** Positions as the page keeps them: symbol, quantity, averagePrice (Decimal strings). */
export function readPortfolio(data) {
  const p = data.portfolio;
  return {
    cash: p.cash,
    equity: p.equity,
    positions: p.positions.map((pos) => ({
      symbol: pos.instrument.symbol,
      quantity: pos.quantity,
      averagePrice: pos.averagePrice,
      marketValue: pos.marketValue,
    })),
  };
}

// Rejections in words; the server's own message follows.
export const REJECT_REASONS = {
  INSUFFICIENT_FUNDS: "Not enough cash for this order",
  INSUFFICIENT_POSITION: "You cannot sell more than you hold",
  UNKNOWN_SYMBOL: "No such instrument",
  INVALID_QUANTITY: "The quantity is not valid",
  INVALID_PRICE: "The limit price is not valid",
  NO_MARKET_PRICE: "No market price yet for this instrument",
  DUPLICATE_CLIENT_ORDER_ID: "This order was already sent",
  MARKET_CLOSED: "The market is closed",
};

// ---------------------------------------------------------------- price alerts

export const ALERT_CONDITIONS = { above: "ABOVE", below: "BELOW" };

export const CREATE_PRICE_ALERT = `
  mutation CreatePriceAlert($symbol: String!, $condition: AlertCondition!, $threshold: Decimal!) {
    createPriceAlert(symbol: $symbol, condition: $condition, threshold: $threshold) {
      __typename
      ... on PriceAlert { id }
    }
  }`;

/** {ok: true} when the alert was created, {error} otherwise (the result type's name). */
export function readAlertResult(result) {
  if (result.__typename === "PriceAlert") return { ok: true };
  return { error: result.__typename.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase() };
}

// ---------------------------------------------------------------- notifications

const NOTIFICATION_FIELDS = `id kind message createdAt read`;

export const NOTIFICATIONS = `
  query Notifications { notifications(first: 20) { edges { node { ${NOTIFICATION_FIELDS} } } } }`;

export const NOTIFICATIONS_SUBSCRIPTION = `
  subscription Notifications { notifications { ${NOTIFICATION_FIELDS} } }`;

export function readNotifications(data) {
  return data.notifications.edges.map((edge) => edge.node);
}
