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
    const { canvas } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = COLORS.background;
    ctx.fillRect(0, 0, width, height);

    const axisWidth = 64;
    const timeHeight = 20;
    const plotW = width - axisWidth;
    const plotH = height - timeHeight - 8;
    const bars = this.bars;
    ctx.font = "11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";
    if (!bars.length) {
      ctx.fillStyle = COLORS.axis;
      ctx.textAlign = "center";
      ctx.fillText("Waiting for ticks…", plotW / 2, plotH / 2);
      return;
    }

    let low = Math.min(...bars.map((b) => b.low));
    let high = Math.max(...bars.map((b) => b.high));
    if (high === low) {
      high += Math.abs(high) * 0.001 || 1;
      low -= Math.abs(low) * 0.001 || 1;
    }
    const pad = (high - low) * 0.08;
    low -= pad;
    high += pad;
    const y = (price) => 8 + ((high - price) / (high - low)) * plotH;

    // grid and price axis
    const steps = 5;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    for (let i = 0; i <= steps; i++) {
      const price = low + ((high - low) * i) / steps;
      const py = Math.round(y(price)) + 0.5;
      ctx.strokeStyle = COLORS.grid;
      ctx.beginPath();
      ctx.moveTo(0, py);
      ctx.lineTo(plotW, py);
      ctx.stroke();
      ctx.fillStyle = COLORS.axis;
      ctx.fillText(price.toFixed(2), plotW + 6, py);
    }

    // candles
    // at least 24 slots, so the first few bars are not slivers at the right edge
    const slots = Math.max(24, bars.length);
    const slot = plotW / slots;
    const body = Math.max(1, Math.floor(slot * 0.7));
    const offset = slots - bars.length;
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

    // time labels under a few bars
    ctx.fillStyle = COLORS.axis;
    ctx.textAlign = "center";
    ctx.textBaseline = "alphabetic";
    let lastLabel = Infinity; // right to left, at least 80px apart
    for (let index = bars.length - 1; index >= 0; index--) {
      const cx = Math.min(Math.max((offset + index + 0.5) * slot, 30), plotW - 30);
      if (lastLabel - cx < 80) continue;
      lastLabel = cx;
      const label = new Date(bars[index].start).toLocaleTimeString([], {
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      });
      ctx.fillText(label, cx, height - 5);
    }

    // last price
    const last = bars[bars.length - 1].close;
    const ly = Math.round(y(last)) + 0.5;
    ctx.strokeStyle = COLORS.last;
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(0, ly);
    ctx.lineTo(plotW, ly);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = COLORS.last;
    ctx.fillRect(plotW, ly - 9, axisWidth, 18);
    ctx.fillStyle = "#10151c";
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.fillText(last.toFixed(2), plotW + 6, ly);
  }
}
