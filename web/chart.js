// A candle chart on a canvas: the last bars of one symbol, the forming bar redrawn as ticks
// arrive, a price axis, a few time labels and a line at the last price. Redraws are batched
// into animation frames, so a fast stream costs one draw per frame at most.

const COLORS = {
  background: "#0f141b",
  grid: "#1c2430",
  axis: "#7d8a99",
  up: "#26c281",
  down: "#f0505a",
  last: "#e8b04a",
};

export class CandleChart {
  constructor(canvas, { maxBars = 60 } = {}) {
    this.canvas = canvas;
    this.maxBars = maxBars;
    this.bars = [];
    this.pending = false;
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /** Replace every bar (a new symbol or a history load). */
  setBars(bars) {
    this.bars = bars.slice(-this.maxBars);
    this.schedule();
  }

  /** Add or update the bar that starts at `bar.start` (the forming bar moves in place). */
  upsert(bar) {
    const last = this.bars[this.bars.length - 1];
    if (last && last.start === bar.start) {
      this.bars[this.bars.length - 1] = bar;
    } else if (!last || bar.start > last.start) {
      this.bars.push(bar);
      if (this.bars.length > this.maxBars) this.bars.shift();
    }
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw() {
    const ctx = this.prepare();
    if (!ctx) return;
    const view = layout(this.canvas, this.bars);
    ctx.font = "11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";
    if (!this.bars.length) {
      ctx.fillStyle = COLORS.axis;
      ctx.textAlign = "center";
      ctx.fillText("Waiting for ticks…", view.plotW / 2, view.plotH / 2);
      return;
    }
    drawGrid(ctx, view);
    drawCandles(ctx, view, this.bars);
    drawTimeLabels(ctx, view, this.bars);
    drawLastPrice(ctx, view, this.bars[this.bars.length - 1].close);
  }

  /** The canvas sized to its box at the screen's pixel ratio, cleared; null while hidden. */
  prepare() {
    const { canvas } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return null;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = COLORS.background;
    ctx.fillRect(0, 0, width, height);
    return ctx;
  }
}

const AXIS_WIDTH = 64;
const TIME_HEIGHT = 20;
const TOP = 8;

/** Where things go: the plot's size, the price range and `y(price)`, the bars' slots. */
function layout(canvas, bars) {
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  const plotW = width - AXIS_WIDTH;
  const plotH = height - TIME_HEIGHT - TOP;
  let low = Math.min(...bars.map((b) => b.low));
  let high = Math.max(...bars.map((b) => b.high));
  if (high === low) {
    high += Math.abs(high) * 0.001 || 1;
    low -= Math.abs(low) * 0.001 || 1;
  }
  const pad = (high - low) * 0.08;
  low -= pad;
  high += pad;
  // at least 24 slots, so the first few bars are not slivers at the right edge
  const slots = Math.max(24, bars.length);
  return {
    height,
    plotW,
    plotH,
    low,
    high,
    y: (price) => TOP + ((high - price) / (high - low)) * plotH,
    slot: plotW / slots,
    offset: slots - bars.length,
  };
}

function horizontalLine(ctx, view, py) {
  ctx.beginPath();
  ctx.moveTo(0, py);
  ctx.lineTo(view.plotW, py);
  ctx.stroke();
}

/** Grid lines and the price axis. */
function drawGrid(ctx, view) {
  const steps = 5;
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  for (let i = 0; i <= steps; i++) {
    const price = view.low + ((view.high - view.low) * i) / steps;
    const py = Math.round(view.y(price)) + 0.5;
    ctx.strokeStyle = COLORS.grid;
    horizontalLine(ctx, view, py);
    ctx.fillStyle = COLORS.axis;
    ctx.fillText(price.toFixed(2), view.plotW + 6, py);
  }
}

function drawCandles(ctx, { y, slot, offset }, bars) {
  const body = Math.max(1, Math.floor(slot * 0.7));
  bars.forEach((bar, index) => {
    const cx = Math.round((offset + index + 0.5) * slot);
    const color = bar.close >= bar.open ? COLORS.up : COLORS.down;
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.beginPath();
    ctx.moveTo(cx + 0.5, Math.round(y(bar.high)));
    ctx.lineTo(cx + 0.5, Math.round(y(bar.low)));
    ctx.stroke();
    const top = Math.round(y(Math.max(bar.open, bar.close)));
    const bottom = Math.round(y(Math.min(bar.open, bar.close)));
    ctx.fillRect(cx - Math.floor(body / 2), top, body, Math.max(1, bottom - top));
  });
}

/** Times under a few bars: right to left, at least 80px apart. */
function drawTimeLabels(ctx, { height, plotW, slot, offset }, bars) {
  const clock = { hour: "2-digit", minute: "2-digit", second: "2-digit" };
  ctx.fillStyle = COLORS.axis;
  ctx.textAlign = "center";
  ctx.textBaseline = "alphabetic";
  let lastLabel = Infinity;
  for (let index = bars.length - 1; index >= 0; index--) {
    const cx = Math.min(Math.max((offset + index + 0.5) * slot, 30), plotW - 30);
    if (lastLabel - cx < 80) continue;
    lastLabel = cx;
    ctx.fillText(new Date(bars[index].start).toLocaleTimeString([], clock), cx, height - 5);
  }
}

/** A dashed line at the last price, and the price in a tag on the axis. */
function drawLastPrice(ctx, view, last) {
  const ly = Math.round(view.y(last)) + 0.5;
  ctx.strokeStyle = COLORS.last;
  ctx.setLineDash([4, 3]);
  horizontalLine(ctx, view, ly);
  ctx.setLineDash([]);
  ctx.fillStyle = COLORS.last;
  ctx.fillRect(view.plotW, ly - 9, AXIS_WIDTH, 18);
  ctx.fillStyle = "#10151c";
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  ctx.fillText(last.toFixed(2), view.plotW + 6, ly);
}
