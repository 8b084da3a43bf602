// Every GraphQL document the board sends, and the few functions that read the shapes those
// documents return, written against the server's schema (`schema.graphql` at the repository's
// root).

// ---------------------------------------------------------------- live data

// A quote as the board shows it: change and change-% come from the day's figures, measured
// against the previous session's close (null before a symbol has one).
const QUOTE_FIELDS =
  "symbol price bid ask volume timestamp sequence halted day { previousClose change changePercent }";

export const QUOTES_SUBSCRIPTION = `
  subscription Quotes($symbols: [String!]!, $since: [SymbolSequence!]) {
    quotes(symbols: $symbols, since: $since) { ${QUOTE_FIELDS} }
  }`;

// An exchange's session (OPEN, PRE, POST, CLOSED) now, then each change: one badge each.
export const SESSION_EXCHANGES = ["NYSE", "NASDAQ"];

export const MARKET_STATUS_SUBSCRIPTION = `
  subscription MarketStatus($exchange: String!) {
    marketStatus(exchange: $exchange) { exchange status nextChange nextStatus }
  }`;

// The depth ladder and the time-and-sales tape of the selected symbol.
export const BOOK_DEPTH = 10;
export const BOOK_SUBSCRIPTION = `
  subscription Book($symbol: String!, $depth: Int!) {
    book(symbol: $symbol, depth: $depth) {
      snapshot simulated sequence previousSequence bids { price size } asks { price size }
    }
  }`;

export const TAPE_LENGTH = 30;
export const RECENT_TRADES_QUERY = `
  query RecentTrades($symbol: String!, $first: Int) {
    recentTrades(symbol: $symbol, first: $first) { price size aggressor timestamp sequence }
  }`;

export const TRADES_SUBSCRIPTION = `
  subscription Trades($symbols: [String!]!, $since: [SymbolSequence!]) {
    trades(symbols: $symbols, since: $since) { price size aggressor timestamp sequence }
  }`;

// The chart's bars: the history, then the forming bar live.
export const CANDLE_INTERVAL = "ONE_MINUTE";

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

export const NAMES_PER_QUERY = 20;

/** One query naming up to NAMES_PER_QUERY symbols (`instrument` per alias). */
export function instrumentNames(symbols) {
  const picked = symbols.slice(0, NAMES_PER_QUERY);
  const params = picked.map((_, i) => `$s${i}: String!`).join(", ");
  const fields = picked.map((_, i) => `s${i}: instrument(symbol: $s${i}) { symbol name }`).join(" ");
  const variables = Object.fromEntries(picked.map((symbol, i) => [`s${i}`, symbol]));
  return { query: `query Names(${params}) { ${fields} }`, variables };
}

/** {symbol, name} of each symbol asked, in order: null where no instrument has the symbol. */
export function readInstrumentNames(data, symbols) {
  return symbols.slice(0, NAMES_PER_QUERY).map((_, i) => data[`s${i}`] ?? null);
}

// ---------------------------------------------------------------- accounts

// eventSequence: where the account streams start, read before anything is loaded, so an event
// that happens meanwhile is replayed rather than missed.
const USER_FIELDS = "id email eventSequence";

const AUTH_RESULT = `
  __typename
  ... on AuthPayload { token expiresInSeconds user { ${USER_FIELDS} } }
  ... on AuthError { code message }`;

export const REGISTER = `
  mutation Register($email: String!, $password: String!) {
    register(email: $email, password: $password) { ${AUTH_RESULT} }
  }`;

export const LOGIN = `
  mutation Login($email: String!, $password: String!) {
    login(email: $email, password: $password) { ${AUTH_RESULT} }
  }`;

// AuthErrorCode in words; the server's own message follows.
export const AUTH_ERRORS = {
  INVALID_EMAIL: "That is not an email address",
  WEAK_PASSWORD: "Choose a stronger password",
  EMAIL_TAKEN: "An account with this email exists: sign in instead",
  INVALID_CREDENTIALS: "Wrong email or password",
  RATE_LIMITED: "Too many attempts",
};

/** {token, user} on success, {error, code} when the server refused (AuthError). */
export function readAuth(result) {
  if (result.__typename === "AuthPayload") return { token: result.token, user: result.user };
  const words = AUTH_ERRORS[result.code] || "Sign-in refused";
  const detail = result.message && result.message !== words ? ` (${result.message})` : "";
  return { error: `${words}${detail}`, code: result.code };
}

export const ME = `query Me { me { ${USER_FIELDS} } }`;

// ---------------------------------------------------------------- watchlists

const WATCHLIST_FIELDS = `
  id name
  items { instrument { symbol name } quote { ${QUOTE_FIELDS} } }`;

export const WATCHLISTS = `query Watchlists { watchlists { ${WATCHLIST_FIELDS} } }`;

export const CREATE_WATCHLIST = `
  mutation CreateWatchlist($name: String!) { createWatchlist(name: $name) { ${WATCHLIST_FIELDS} } }`;

export const ADD_TO_WATCHLIST = `
  mutation AddToWatchlist($watchlistId: ID!, $symbol: String!) {
    addToWatchlist(watchlistId: $watchlistId, symbol: $symbol) { ${WATCHLIST_FIELDS} }
  }`;

export const REMOVE_FROM_WATCHLIST = `
  mutation RemoveFromWatchlist($watchlistId: ID!, $symbol: String!) {
    removeFromWatchlist(watchlistId: $watchlistId, symbol: $symbol) { ${WATCHLIST_FIELDS} }
  }`;

/** The symbols of a watchlist, in its order. */
export function watchlistSymbols(watchlist) {
  return watchlist.items.map((item) => item.instrument.symbol);
}

// ---------------------------------------------------------------- orders and portfolio

const ORDER_FIELDS = `
  id clientOrderId status side type quantity limitPrice filledQuantity averageFillPrice
  rejectReason instrument { symbol }`;

export const PLACE_ORDER = `
  mutation PlaceOrder($input: PlaceOrderInput!) {
    placeOrder(input: $input) {
      __typename
      ... on Order { ${ORDER_FIELDS} }
      ... on OrderRejected { reason message }
    }
  }`;

// `afterEvent`: the last eventSequence seen, so a reconnect replays what the page missed.
export const ORDER_UPDATES = `
  subscription OrderUpdates($after: BigInt) {
    orderUpdates(afterEvent: $after) { ${ORDER_FIELDS} eventSequence }
  }`;

export const PORTFOLIO = `
  query Portfolio {
    portfolio {
      cash reservedCash equity
      positions { instrument { symbol } quantity averagePrice lastPrice marketValue unrealizedPnl }
    }
    orders(status: OPEN, first: 50) { edges { node { ${ORDER_FIELDS} reservedCash } } }
  }`;

export const CANCEL_ORDER = `
  mutation CancelOrder($id: ID!) {
    cancelOrder(id: $id) {
      __typename
      ... on Order { ${ORDER_FIELDS} }
      ... on CancelRejected { reason message }
    }
  }`;

/** Cash and positions as the page keeps them (Decimal strings); equity is recomputed live. */
export function readPortfolio(data) {
  const p = data.portfolio;
  return {
    cash: p.cash,
    reservedCash: p.reservedCash,
    equity: p.equity,
    positions: p.positions.map((pos) => ({
      symbol: pos.instrument.symbol,
      quantity: pos.quantity,
      averagePrice: pos.averagePrice,
      lastPrice: pos.lastPrice,
      marketValue: pos.marketValue,
    })),
    openOrders: data.orders.edges.map((edge) => edge.node),
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
  INVALID_CLIENT_ORDER_ID: "The order's client id is not valid",
};

// ---------------------------------------------------------------- price alerts

export const ALERT_CONDITIONS = { above: "ABOVE", below: "BELOW" };

export const CREATE_PRICE_ALERT = `
  mutation CreatePriceAlert($symbol: String!, $condition: AlertCondition!, $threshold: Decimal!) {
    createPriceAlert(symbol: $symbol, condition: $condition, threshold: $threshold) {
      __typename
      ... on PriceAlert { id }
      ... on AlertError { code message }
    }
  }`;

export const ALERTS = `
  query Alerts { alerts { id condition threshold active instrument { symbol } } }`;

export const DELETE_PRICE_ALERT = `mutation DeletePriceAlert($id: ID!) { deletePriceAlert(id: $id) }`;

/** {ok: true} when the alert was created, {error} (the server's words) otherwise. */
export function readAlertResult(result) {
  if (result.__typename === "PriceAlert") return { ok: true };
  return { error: result.message || result.code.replaceAll("_", " ").toLowerCase() };
}

// ---------------------------------------------------------------- notifications

const NOTIFICATION_FIELDS = `id kind message orderId alertId createdAt readAt`;

// NotificationKind in words.
export const NOTIFICATION_KINDS = {
  PRICE_ALERT: "Price alert",
  ORDER_FILLED: "Order filled",
  ORDER_CANCELLED: "Order cancelled",
};

export const NOTIFICATIONS = `
  query Notifications { notifications(first: 20) { edges { node { ${NOTIFICATION_FIELDS} } } } }`;

export const NOTIFICATIONS_SUBSCRIPTION = `
  subscription Notifications($after: BigInt) {
    notifications(afterEvent: $after) { ${NOTIFICATION_FIELDS} eventSequence }
  }`;

export function readNotifications(data) {
  return data.notifications.edges.map((edge) => edge.node);
}
