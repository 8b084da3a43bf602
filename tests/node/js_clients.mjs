// One real JavaScript GraphQL client against a running Trado, run by tests/api/test_js_clients.py:
//   node js_clients.mjs <apollo|apollo-http|urql|graphql-sse|graphql-sse-single>
// with TRADO_HTTP (http://host:port), TRADO_WS (ws://host:port/graphql), TRADO_TOKEN and the
// query, mutation and subscription (with their variables) as JSON in TRADO_OPERATIONS. It runs
// the query, subscribes after the caller's last event, places the order, waits for one update and
// prints {"query": data, "mutation": data, "subscription": data} on one line; it exits non-zero on
// any error or after 20 s.
import { ApolloClient, HttpLink, InMemoryCache, gql, split } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { Client, fetchExchange, subscriptionExchange } from "@urql/core";
import { createClient as createSseClient } from "graphql-sse";
import { createClient as createWsClient } from "graphql-ws";
import { createHash } from "node:crypto";
import WebSocket from "ws";

const [name] = process.argv.slice(2);
const { TRADO_HTTP: http, TRADO_WS: ws, TRADO_TOKEN: token } = process.env;
const operations = JSON.parse(process.env.TRADO_OPERATIONS);
const authorization = `Bearer ${token}`;
const url = `${http}/graphql`;

const timeout = setTimeout(() => fail(new Error("timed out after 20 s")), 20_000);

function fail(error) {
  console.error(`${name}:`, error);
  process.exit(1);
}

function webSocketClient() {
  return createWsClient({
    url: ws,
    webSocketImpl: WebSocket,
    connectionParams: { authorization },
    lazy: true,
  });
}

function firstOf(subscribe) {
  // The first data of a subscription: `subscribe(next, error)` starts it and returns its stop.
  return new Promise((resolve, reject) => {
    let stop = null;
    let done = false;
    stop = subscribe(
      (data) => {
        if (done) return;
        done = true;
        resolve(data);
        if (stop) stop();
      },
      (error) => reject(error),
    );
    if (done) stop();
  });
}

function dataOf(result) {
  if (result.error) throw result.error;
  if (result.errors?.length) throw new Error(JSON.stringify(result.errors));
  return result.data;
}

async function sseClient({ query, mutation, subscription, live }, singleConnection) {
  // Distinct connections mode (the default): one POST with Accept: text/event-stream each.
  // Single connection mode: a PUT reserves one event stream, a GET opens it, and each
  // operation is a POST (202) whose results arrive in that stream.
  const options = { url, headers: { authorization }, retryAttempts: 0, singleConnection };
  const client = createSseClient(options);
  const first = async (request) => {
    for await (const result of client.iterate(request)) return dataOf(result);
    throw new Error(`no result for ${request.query}`);
  };
  const queried = await first({ query: query.query });
  const variables = subscription.variables(queried);
  const update = first({ query: subscription.query, variables });
  const quote = await first({ query: live.query });
  const mutated = await first(mutation);
  const updated = await update;
  client.dispose();
  return { query: queried, mutation: mutated, subscription: updated, live: quote };
}

const clients = {
  async apollo({ query, mutation, subscription }) {
    const wsClient = webSocketClient();
    const link = split(
      ({ query: document }) => {
        const definition = getMainDefinition(document);
        return definition.kind === "OperationDefinition" && definition.operation === "subscription";
      },
      new GraphQLWsLink(wsClient),
      new HttpLink({ uri: url, headers: { authorization } }),
    );
    const client = new ApolloClient({ link, cache: new InMemoryCache() });
    const policy = { fetchPolicy: "no-cache" };
    const queried = dataOf(await client.query({ query: gql(query.query), ...policy }));
    const variables = subscription.variables(queried);
    const update = firstOf((next, error) => {
      const observable = client.subscribe({ query: gql(subscription.query), variables, ...policy });
      const handle = observable.subscribe({ next: (r) => next(dataOf(r)), error });
      return () => handle.unsubscribe();
    });
    const mutated = dataOf(
      await client.mutate({ mutation: gql(mutation.query), variables: mutation.variables }),
    );
    const updated = await update;
    await wsClient.dispose();
    return { query: queried, mutation: mutated, subscription: updated };
  },

  async "apollo-http"({ query, mutation, subscription, live }) {
    // HttpLink alone, behind PersistedQueryLink (hashed queries over GET): the query twice,
    // the mutation, and both subscriptions as multipart/mixed (subscriptionSpec 1.0). Each
    // request is logged (method, whether it carried the document and the hash) as `requests`.
    const requests = [];
    const logged = async (input, init = {}) => {
      const target = new URL(input);
      const body = init.body ? JSON.parse(init.body) : {};
      const document = body.query ?? target.searchParams.get("query");
      const extensions = body.extensions ?? JSON.parse(target.searchParams.get("extensions") ?? "{}");
      requests.push({
        method: init.method ?? "GET",
        document: Boolean(document),
        hash: Boolean(extensions.persistedQuery?.sha256Hash),
      });
      return fetch(input, init);
    };
    const sha256 = (text) => createHash("sha256").update(text).digest("hex");
    const link = new PersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
      new HttpLink({ uri: url, headers: { authorization }, fetch: logged }),
    );
    const client = new ApolloClient({ link, cache: new InMemoryCache() });
    const policy = { fetchPolicy: "no-cache" };
    const first = (document, variables) =>
      firstOf((next, error) => {
        const observable = client.subscribe({ query: gql(document), variables, ...policy });
        const handle = observable.subscribe({ next: (r) => next(dataOf(r)), error });
        return () => handle.unsubscribe();
      });
    // A document this server has not seen (a field of its own), so its hash is not yet known.
    const fresh = gql(query.query.replace("{", `{ run${Date.now()}: __typename `));
    const queried = dataOf(await client.query({ query: fresh, ...policy }));
    dataOf(await client.query({ query: fresh, ...policy })); // by its hash alone now
    const update = first(subscription.query, subscription.variables(queried));
    const quote = await first(live.query, {});
    const mutated = dataOf(
      await client.mutate({ mutation: gql(mutation.query), variables: mutation.variables }),
    );
    const updated = await update;
    return { query: queried, mutation: mutated, subscription: updated, live: quote, requests };
  },

  async urql({ query, mutation, subscription }) {
    const wsClient = webSocketClient();
    const client = new Client({
      url,
      // urql's own Accept (JSON first, then text/event-stream and multipart/mixed): the
      // server answers a query with JSON because the client ranks JSON first.
      fetchOptions: { headers: { authorization } },
      exchanges: [
        fetchExchange,
        subscriptionExchange({
          forwardSubscription(request) {
            const input = { ...request, query: request.query || "" };
            return { subscribe: (sink) => ({ unsubscribe: wsClient.subscribe(input, sink) }) };
          },
        }),
      ],
    });
    const queried = dataOf(await client.query(query.query, {}).toPromise());
    const variables = subscription.variables(queried);
    const update = firstOf((next, error) => {
      const handle = client.subscription(subscription.query, variables).subscribe((result) => {
        if (result.error) error(result.error);
        else next(result.data);
      });
      return () => handle.unsubscribe();
    });
    const mutated = dataOf(await client.mutation(mutation.query, mutation.variables).toPromise());
    const updated = await update;
    await wsClient.dispose();
    return { query: queried, mutation: mutated, subscription: updated };
  },

  "graphql-sse": (operations) => sseClient(operations, false),
  "graphql-sse-single": (operations) => sseClient(operations, true),
};

try {
  const run = clients[name];
  if (!run) throw new Error(`unknown client ${name}`);
  const results = await run({
    ...operations,
    // The subscription starts after the caller's last event, which the query reads.
    subscription: {
      ...operations.subscription,
      variables: (data) => ({ after: data.me.eventSequence }),
    },
  });
  clearTimeout(timeout);
  console.log(JSON.stringify(results));
  process.exit(0);
} catch (error) {
  fail(error);
}
