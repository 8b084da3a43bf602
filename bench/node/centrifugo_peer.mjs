// Centrifugo as a peer: start the Centrifugo binary as this process's child (so the harness
// samples and stops both as one process group) with the config file the harness wrote, wait
// until its HTTP server API answers, then tick the same seeded random walk as the other peers
// and publish each tick to channel `quotes:<SYMBOL>` through the server API's /api/batch: one
// batch per tenth of a round of symbols, so ticks arrive evenly, as Trado's simulator makes them.
// The publication's data is the `next` payload the GraphQL peers send: {"data":{"quotes":tick}}.
// With --cpus LIST the binary runs on those CPUs only (`taskset -c`, which sets the affinity
// before it execs the binary), wherever this publisher runs.
//
//   node centrifugo_peer.mjs --port 9003 --rate 1000 --symbols AAPL,MSFT,... \
//       --binary ../.bin/centrifugo --config /tmp/centrifugo-9003.json [--cpus 0]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { TickSource, peerOptions } from './ticks.mjs';

const { port, rate, symbols, seed, binary, config, cpus } = peerOptions({
  binary: { type: 'string' },
  config: { type: 'string' },
  cpus: { type: 'string' },
});
if (!binary || !config) {
  console.error('usage: ... --binary PATH_TO_CENTRIFUGO --config CONFIG_JSON [--cpus LIST]');
  process.exit(2);
}
const apiKey = JSON.parse(readFileSync(config, 'utf8')).http_api.key;
const BATCH = Math.max(1, Math.round(symbols.length / 10)); // a tenth of a round
const STARTUP_MS = 30_000;
const STOP_GRACE_MS = 5_000;
// A few keep-alive sockets, so a batch never waits for a connection behind a slow one.
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

let stopping = false;
const command = [binary, '--config', config];
const [program, ...args] = cpus ? ['taskset', '-c', cpus, ...command] : command;
const server = spawn(program, args, { stdio: 'inherit' });
server.on('exit', (code, signal) => {
  if (!stopping) console.error(`centrifugo exited unexpectedly: ${code ?? signal}`);
  process.exit(stopping ? 0 : 1);
});

/** POST `body` to the server API's `/api/<method>`; resolves with the parsed reply. */
function api(method, body) {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        path: `/api/${method}`,
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': payload.length,
          'X-API-Key': apiKey,
        },
      },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (response.statusCode !== 200) reject(new Error(`${method}: ${response.statusCode} ${text}`));
          else resolve(JSON.parse(text));
        });
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

async function untilServing() {
  const deadline = Date.now() + STARTUP_MS;
  for (;;) {
    try {
      return await api('info', {});
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    }
  }
}

let published = 0;
let failed = 0;
let pending = [];

/** Send the turn's ticks, BATCH commands per request; count (and show once) what fails. */
function flush() {
  for (let start = 0; start < pending.length; start += BATCH) {
    const commands = pending.slice(start, start + BATCH);
    api('batch', { commands }).then(
      (reply) => {
        const errors = (reply.replies ?? []).filter((one) => one.error);
        if (errors.length && !failed) console.error('publish failed:', JSON.stringify(errors[0]));
        failed += errors.length;
        published += commands.length - errors.length;
      },
      (error) => {
        if (!failed) console.error('batch failed:', error.message);
        failed += commands.length;
      },
    );
  }
  pending = [];
}

const source = new TickSource(symbols, { rate, seed });

function stop() {
  if (stopping) return;
  stopping = true;
  source.stop();
  console.error(`published ${published}, failed ${failed}`);
  server.kill('SIGTERM');
  setTimeout(() => server.kill('SIGKILL'), STOP_GRACE_MS).unref();
}
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, stop);

await untilServing();
source.start(
  (tick) => {
    const data = { data: { quotes: tick } };
    pending.push({ publish: { channel: `quotes:${tick.symbol}`, data } });
  },
  { perTurn: BATCH, afterTurn: flush },
);
console.log(`ready ${port}`);
