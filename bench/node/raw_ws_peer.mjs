// The ceiling: a bare `ws` server that speaks just enough graphql-transport-ws (init/ack,
// subscribe, ping/pong, complete) and, per tick, sends one pre-serialized `next` frame to each
// connection subscribed to that symbol. No GraphQL execution, no per-subscriber work beyond the
// send: the most this machine's WebSocket stack delivers with frames of Trado's shape.
//
//   node raw_ws_peer.mjs --port 9001 --rate 1000 --symbols AAPL,MSFT,...
import { WebSocketServer } from 'ws';
import { TickSource, peerOptions, stopOn } from './ticks.mjs';

const PROTOCOL = 'graphql-transport-ws';
const { port, rate, symbols, seed } = peerOptions();

/** symbol -> Map(subscription key -> { socket, id }) */
const bySymbol = new Map(symbols.map((symbol) => [symbol, new Map()]));

function unsubscribe(socket, id) {
  const key = socket.subscriptions.get(id);
  if (!key) return;
  socket.subscriptions.delete(id);
  for (const subscribers of bySymbol.values()) subscribers.delete(key);
}

function onMessage(socket, data) {
  let message;
  try {
    message = JSON.parse(data);
  } catch {
    socket.close(4400, 'not JSON');
    return;
  }
  switch (message.type) {
    case 'connection_init':
      socket.send('{"type":"connection_ack"}');
      break;
    case 'ping':
      socket.send('{"type":"pong"}');
      break;
    case 'subscribe': {
      const wanted = message.payload?.variables?.symbols ?? [];
      const key = `${socket.serial}:${message.id}`;
      socket.subscriptions.set(message.id, key);
      for (const symbol of wanted) bySymbol.get(symbol)?.set(key, { socket, id: message.id });
      break;
    }
    case 'complete':
      unsubscribe(socket, message.id);
      break;
    default:
      break;
  }
}

const server = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: false,
  handleProtocols: (protocols) => (protocols.has(PROTOCOL) ? PROTOCOL : false),
});
let serial = 0;
server.on('connection', (socket) => {
  socket.serial = (serial += 1);
  socket.subscriptions = new Map();
  socket.on('message', (data) => onMessage(socket, data));
  socket.on('close', () => {
    for (const id of [...socket.subscriptions.keys()]) unsubscribe(socket, id);
  });
});

const source = new TickSource(symbols, { rate, seed });
source.start((tick) => {
  const subscribers = bySymbol.get(tick.symbol);
  if (!subscribers?.size) return;
  const body = JSON.stringify({ data: { quotes: tick } });
  const frames = new Map(); // one frame per subscription id; clients normally all use "1"
  for (const { socket, id } of subscribers.values()) {
    let frame = frames.get(id);
    if (!frame) {
      frame = Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":${body}}`);
      frames.set(id, frame);
    }
    socket.send(frame, { binary: false });
  }
});

stopOn(['SIGTERM', 'SIGINT'], () => source.stop());
server.on('listening', () => console.log(`ready ${port}`));
