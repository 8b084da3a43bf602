// The Node GraphQL peer: graphql-js + graphql-ws + ws serving the same `quotes(symbols)`
// subscription as Trado, the idiomatic way: each subscriber gets its own async iterator fed by
// an in-process pub/sub, and graphql-ws executes the selection set for every event.
//
//   node graphql_peer.mjs --port 9002 --rate 1000 --symbols AAPL,MSFT,...
import {
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLScalarType,
  GraphQLSchema,
  GraphQLString,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { TickSource, peerOptions, stopOn } from './ticks.mjs';

const { port, rate, symbols, seed } = peerOptions();

// Queued values per subscriber, as graphql-subscriptions' PubSub keeps them; capped so an
// overloaded run degrades by dropping the oldest instead of running out of memory.
const QUEUE_LIMIT = 1000;

/** symbol -> Set of subscriber iterators */
const topics = new Map();

class Subscriber {
  constructor(wanted) {
    this.wanted = wanted;
    this.values = [];
    this.waiting = [];
    this.done = false;
    for (const symbol of wanted) {
      if (!topics.has(symbol)) topics.set(symbol, new Set());
      topics.get(symbol).add(this);
    }
  }

  push(value) {
    const resolve = this.waiting.shift();
    if (resolve) resolve({ value, done: false });
    else {
      if (this.values.length >= QUEUE_LIMIT) this.values.shift();
      this.values.push(value);
    }
  }

  next() {
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    if (this.values.length) return Promise.resolve({ value: this.values.shift(), done: false });
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  return() {
    if (!this.done) {
      this.done = true;
      for (const symbol of this.wanted) topics.get(symbol)?.delete(this);
      for (const resolve of this.waiting.splice(0)) resolve({ value: undefined, done: true });
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error) {
    this.return();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator]() {
    return this;
  }
}

const scalar = (name, description) =>
  new GraphQLScalarType({ name, description, serialize: (value) => value });
const Decimal = scalar('Decimal', 'An exact decimal number, written as a string.');
const DateTime = scalar('DateTime', 'Date with time (isoformat).');
const BigInt = scalar('BigInt', 'A whole number beyond 32 bits, exact up to 2^53.');
const required = (type) => ({ type: new GraphQLNonNull(type) });

const Quote = new GraphQLObjectType({
  name: 'Quote',
  fields: {
    symbol: required(GraphQLString),
    price: required(Decimal),
    bid: required(Decimal),
    ask: required(Decimal),
    volume: required(Decimal),
    timestamp: required(DateTime),
    sequence: required(BigInt),
  },
});
const symbolList = new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(GraphQLString)));

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: 'Query',
    fields: { ok: { type: GraphQLString, resolve: () => 'ok' } },
  }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      quotes: {
        type: new GraphQLNonNull(Quote),
        args: { symbols: { type: symbolList } },
        subscribe: (_root, args) => new Subscriber([...new Set(args.symbols)]),
        resolve: (tick) => tick,
      },
    },
  }),
});

const server = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
useServer({ schema }, server);

const source = new TickSource(symbols, { rate, seed });
source.start((tick) => {
  const subscribers = topics.get(tick.symbol);
  if (subscribers) for (const subscriber of subscribers) subscriber.push(tick);
});

stopOn(['SIGTERM', 'SIGINT'], () => source.stop());
server.on('listening', () => console.log(`ready ${port}`));
