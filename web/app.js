// The board's entry: mounts each panel on the one store (store.js), then starts with this
// browser's watchlist and the session kept from an earlier visit. Every panel lives in
// panels/, every GraphQL document in queries.js.

import { socket } from "./api.js";
import { mountAccount, restoreSession } from "./panels/account.js";
import { mountAlerts } from "./panels/alerts.js";
import { bookState, mountBook } from "./panels/book.js";
import { chartBars, mountChart } from "./panels/chart.js";
import { mountConnection } from "./panels/connection.js";
import { mountNotifications } from "./panels/notifications.js";
import { mountOrders } from "./panels/orders.js";
import { mountPortfolio } from "./panels/portfolio.js";
import { mountSearch } from "./panels/search.js";
import { mountSessions } from "./panels/sessions.js";
import { mountTape, tapeState } from "./panels/tape.js";
import { mountTicket } from "./panels/ticket.js";
import { mountWatchlist, startWatchlist } from "./panels/watchlist.js";
import { mountQuotes } from "./quotes.js";
import { state } from "./store.js";

for (const mount of [
  mountConnection,
  mountSessions,
  mountQuotes,
  mountWatchlist,
  mountSearch,
  mountChart,
  mountBook,
  mountTape,
  mountTicket,
  mountPortfolio,
  mountOrders,
  mountNotifications,
  mountAlerts,
  mountAccount,
]) {
  mount();
}
startWatchlist();
restoreSession();

// A hook for end-to-end tests and the curious: drop the socket, read the connection state.
window.trado = {
  dropSocket: () => socket.drop(),
  connectionState: () => socket.state,
  connectionLog: state.connectionLog,
  chartBars,
  bookState,
  tapeState,
  state,
};
