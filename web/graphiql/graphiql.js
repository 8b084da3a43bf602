// GraphiQL at /graphql, from this origin's files only: queries and mutations over HTTP POST,
// subscriptions over a WebSocket to this origin's /graphql (graphql-transport-ws, with the
// graphql-ws client inside graphiql.min.js). The headers editor's headers go with every HTTP
// request and, as the payload of the WebSocket's `connection_init`, with every subscription:
// `{"Authorization": "Bearer <token>"}` there (the board's "API token" button copies it) signs
// GraphiQL in for both.
"use strict";

(function () {
  const endpoint = new URL("/graphql", location.href);
  const subscriptionUrl = new URL(endpoint);
  subscriptionUrl.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

  const EXAMPLE = `# Trado's GraphQL API. Run this (Ctrl-Enter or the play
# button) to watch prices stream. To sign in, put
#   {"Authorization": "Bearer <token>"}
# under Headers (the board's "API token" button copies
# it), then ask for { me { email } }.

subscription {
  quotes(symbols: ["AAPL", "MSFT"]) {
    symbol
    price
    bid
    ask
    sequence
    timestamp
  }
}
`;

  // HTTP header names are case-insensitive; a connection_init payload's keys are not, and the
  // server reads `authorization` there: every name goes lower-cased to both.
  function lowerCased(headers) {
    const lowered = {};
    for (const [name, value] of Object.entries(headers || {})) {
      lowered[name.toLowerCase()] = value;
    }
    return lowered;
  }

  const fetchGraphQL = GraphiQL.createFetcher({
    url: endpoint.href,
    subscriptionUrl: subscriptionUrl.href,
  });

  function fetcher(params, options) {
    return fetchGraphQL(params, { ...options, headers: lowerCased(options && options.headers) });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultQuery: EXAMPLE,
      defaultEditorToolsVisibility: true,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    }),
  );
})();
