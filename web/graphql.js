// A tiny GraphQL client for the board: HTTP POST for queries and mutations, and the
// `graphql-transport-ws` protocol over one WebSocket for subscriptions. The socket reconnects
// by itself with backoff and re-subscribes everything that was live, and it reports its state
// ("connecting" | "online" | "offline") so the page can say when prices are stale.

const PROTOCOL = "graphql-transport-ws";

/**
 * A GraphQL response with errors: `codes`, the set of their `extensions.code`s
 * (BAD_USER_INPUT, ...); `unauthenticated` when the server refused the token.
 */
export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
    this.codes = new Set(errors.map((e) => e.extensions?.code).filter(Boolean));
    this.unauthenticated = this.codes.has("UNAUTHENTICATED");
  }
}

/** POST one operation; resolves to `data`, rejects with GraphQLError or a network Error. */
export async function request(query, variables = {}, token = null) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch("/graphql", {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  let body;
  try {
    body = await response.json();
  } catch {
    throw new Error(`the server answered ${response.status} without JSON`);
  }
  if (body.errors && body.errors.length) throw new GraphQLError(body.errors);
  return body.data;
}

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/graphql`;
}

function subscribePayload({ query, variables }) {
  return { query, variables: typeof variables === "function" ? variables() : variables };
}

/**
 * One graphql-transport-ws connection shared by every subscription of the page.
 * `subscribe(query, variables, {next, error})` returns a function that stops it; live
 * subscriptions survive reconnects (each is sent again once the new socket is acknowledged).
 * `variables` may be a function, called each time the subscription is sent: a stream that
 * resumes (`quotes(since:)`) then asks for what it missed while the socket was down.
 */
export class SubscriptionClient {
  constructor({ url = socketUrl(), token = null, onState = () => {} } = {}) {
    this.url = url;
    this.token = token;
    this.onState = onState;
    this.state = "connecting";
    this.retryAt = null;
    this.subscriptions = new Map(); // id -> {query, variables, sink}
    this.nextId = 1;
    this.attempt = 0;
    this.socket = null;
    this.acknowledged = false;
    this.pingTimer = null;
    this.pongDeadline = null;
    this.retryTimer = null;
    this.connect();
  }

  /** A new token means a new identity: reconnect so connection_init carries it. */
  setToken(token) {
    if (token === this.token) return;
    this.token = token;
    this.restart();
  }

  subscribe(query, variables, sink) {
    const id = String(this.nextId++);
    const entry = { query, variables, sink };
    this.subscriptions.set(id, entry);
    if (this.acknowledged) this.send({ id, type: "subscribe", payload: subscribePayload(entry) });
    return () => {
      if (this.subscriptions.delete(id) && this.acknowledged) this.send({ id, type: "complete" });
    };
  }

  /** Drop the socket as a network failure would (used by tests and the "reconnect" button). */
  drop() {
    if (this.socket) this.socket.close(4000, "dropped by the client");
  }

  restart() {
    clearTimeout(this.retryTimer);
    this.attempt = 0;
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close(1000, "restart");
      this.socket = null;
    }
    this.stopPing();
    this.connect();
  }

  setState(state) {
    this.state = state;
    this.onState(state, this.retryAt);
  }

  connect() {
    this.acknowledged = false;
    this.retryAt = null;
    this.setState(this.attempt === 0 ? "connecting" : "offline");
    let socket;
    try {
      socket = new WebSocket(this.url, PROTOCOL);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      const payload = this.token ? { authorization: `Bearer ${this.token}` } : {};
      this.send({ type: "connection_init", payload });
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.acknowledged = false;
      this.stopPing();
      this.scheduleReconnect();
    };
    socket.onerror = () => {}; // onclose follows and handles it
  }

  scheduleReconnect() {
    // 0.5s, 1s, 2s, 4s, then every 5s, with jitter so replicas are not hit all at once
    const delay = Math.min(5000, 500 * 2 ** this.attempt) * (0.8 + Math.random() * 0.4);
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this.setState("offline");
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  receive(raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    const entry = message.id ? this.subscriptions.get(message.id) : null;
    switch (message.type) {
      case "connection_ack":
        this.acknowledged = true;
        this.attempt = 0;
        this.setState("online");
        this.startPing();
        for (const [id, sub] of this.subscriptions) {
          this.send({ id, type: "subscribe", payload: subscribePayload(sub) });
        }
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "pong":
        clearTimeout(this.pongDeadline);
        break;
      case "next":
        if (entry) {
          if (message.payload.errors && message.payload.errors.length) {
            entry.sink.error?.(new GraphQLError(message.payload.errors));
          } else {
            entry.sink.next(message.payload.data);
          }
        }
        break;
      case "error":
        if (entry) {
          this.subscriptions.delete(message.id);
          entry.sink.error?.(new GraphQLError(message.payload));
        }
        break;
      case "complete":
        if (entry) {
          this.subscriptions.delete(message.id);
          entry.sink.complete?.();
        }
        break;
      default:
        break;
    }
  }

  // A socket can die without a close frame (a sleeping laptop, a dead proxy): ping every 15s
  // and treat a missing pong within 5s as a drop.
  startPing() {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      this.send({ type: "ping" });
      clearTimeout(this.pongDeadline);
      this.pongDeadline = setTimeout(() => this.drop(), 5000);
    }, 15000);
  }

  stopPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongDeadline);
  }
}
