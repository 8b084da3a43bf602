// The peers' own market: a seeded random walk over the given symbols at a fixed rate, paced
// like Trado's simulator (an opening tick per symbol, then catch-up bursts at most every 50 ms),
// so every target of a benchmark run sees the same tick shape and the same load.
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

/** mulberry32: a tiny seeded PRNG, so runs are repeatable. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Wall-clock time as ISO 8601 with microseconds and +00:00, like Trado's DateTime. */
export function isoNow() {
  const micros = Math.round((performance.timeOrigin + performance.now()) * 1000);
  const seconds = new Date(Math.floor(micros / 1000)).toISOString().slice(0, 19);
  return `${seconds}.${String(micros % 1_000_000).padStart(6, '0')}+00:00`;
}

/** Prices are kept in integer cents and written as exact decimal strings, as Trado does. */
function cents(value) {
  return `${Math.floor(value / 100)}.${String(value % 100).padStart(2, '0')}`;
}

export class TickSource {
  constructor(symbols, { rate, seed = 7 }) {
    if (!symbols.length) throw new Error('at least one symbol');
    this.rate = rate;
    this.random = random(seed);
    const start = Date.now() * 1000;
    this.instruments = symbols.map((symbol) => ({ symbol, price: 10_000, sequence: start }));
  }

  next(instrument) {
    const pick = instrument ?? this.instruments[Math.floor(this.random() * this.instruments.length)];
    const step = Math.round((this.random() - 0.5) * 10);
    pick.price = Math.max(pick.price + step, 2);
    pick.sequence += 1;
    const spread = 1 + Math.floor(this.random() * 3);
    return {
      symbol: pick.symbol,
      price: cents(pick.price),
      bid: cents(Math.max(pick.price - spread, 1)),
      ask: cents(pick.price + spread),
      volume: String((1 + Math.floor(this.random() * 50)) * 10),
      timestamp: isoNow(),
      sequence: pick.sequence,
    };
  }

  /**
   * Calls `sink(tick)` for an opening tick per symbol, then `rate` ticks a second, about
   * `perTurn` per timer turn (catching up when a turn comes late); `afterTurn()` after each
   * turn's ticks, e.g. to send them as one batch.
   */
  start(sink, { perTurn = 1, afterTurn = () => {} } = {}) {
    for (const instrument of this.instruments) sink(this.next(instrument));
    afterTurn();
    const started = performance.now();
    let emitted = 0;
    const pause = Math.min(50, (1000 * perTurn) / this.rate);
    const loop = () => {
      const due = Math.floor(((performance.now() - started) / 1000) * this.rate) - emitted;
      for (let i = 0; i < due; i += 1) sink(this.next());
      emitted += Math.max(due, 0);
      afterTurn();
      this.timer = setTimeout(loop, pause);
    };
    this.timer = setTimeout(loop, pause);
  }

  stop() {
    clearTimeout(this.timer);
  }
}

/**
 * The options every peer shares: --port, --rate, --symbols (comma-separated), --seed; a peer's
 * own options (parseArgs' format) come back as given, beside them.
 */
export function peerOptions(own = {}) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      rate: { type: 'string', default: '100' },
      symbols: { type: 'string' },
      seed: { type: 'string', default: '7' },
      ...own,
    },
  });
  const port = Number(values.port);
  const rate = Number(values.rate);
  const symbols = (values.symbols ?? '').split(',').filter(Boolean);
  if (!port || !(rate > 0) || !symbols.length) {
    console.error('usage: --port N --rate TICKS_PER_SECOND --symbols A,B,C [--seed N]');
    process.exit(2);
  }
  return { ...values, port, rate, symbols, seed: Number(values.seed) };
}

/** Stop cleanly on SIGTERM/SIGINT so the harness sees the process end at once. */
export function stopOn(signals, stop) {
  for (const signal of signals) process.on(signal, () => { stop(); process.exit(0); });
}
