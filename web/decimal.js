// Exact arithmetic on the API's Decimal strings ("249.04"), with BigInt underneath, so cash,
// position values and P&L are never rounded by floats. Numbers are used only for display
// ratios (change-%) and chart coordinates.

function parse(value) {
  let text = String(value).trim();
  if (/e/i.test(text)) text = Number(text).toFixed(12); // "1E+2" style, rare in practice
  const negative = text.startsWith("-");
  if (negative || text.startsWith("+")) text = text.slice(1);
  const [whole, fraction = ""] = text.split(".");
  const digits = `${whole || "0"}${fraction}`.replace(/[^0-9]/g, "") || "0";
  const n = BigInt(digits);
  return { n: negative ? -n : n, scale: fraction.length };
}

function scaled(d, scale) {
  return d.n * 10n ** BigInt(scale - d.scale);
}

function render(n, scale) {
  const negative = n < 0n;
  const digits = (negative ? -n : n).toString().padStart(scale + 1, "0");
  const whole = digits.slice(0, digits.length - scale);
  const fraction = scale ? `.${digits.slice(digits.length - scale)}` : "";
  return `${negative ? "-" : ""}${whole}${fraction}`;
}

export function add(a, b) {
  const x = parse(a);
  const y = parse(b);
  const scale = Math.max(x.scale, y.scale);
  return render(scaled(x, scale) + scaled(y, scale), scale);
}

export function sub(a, b) {
  const x = parse(a);
  const y = parse(b);
  const scale = Math.max(x.scale, y.scale);
  return render(scaled(x, scale) - scaled(y, scale), scale);
}

export function mul(a, b) {
  const x = parse(a);
  const y = parse(b);
  return render(x.n * y.n, x.scale + y.scale);
}

/** -1, 0 or 1. */
export function compare(a, b) {
  const d = parse(sub(a, b)).n;
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/** Rounded half away from zero to `places`, with thousands separators: "12,345.68". */
export function format(value, places = 2, { sign = false } = {}) {
  const d = parse(value);
  let n = d.n < 0n ? -d.n : d.n;
  if (d.scale > places) {
    const divisor = 10n ** BigInt(d.scale - places);
    const remainder = n % divisor;
    n = n / divisor + (remainder * 2n >= divisor ? 1n : 0n);
  } else {
    n *= 10n ** BigInt(places - d.scale);
  }
  const [whole, fraction] = render(n, places).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const negative = d.n < 0n && n !== 0n;
  const prefix = negative ? "-" : sign && n !== 0n ? "+" : "";
  return `${prefix}${grouped}${fraction ? `.${fraction}` : ""}`;
}

/** Decimals of a price string, at least 2: a 0.0001 tick shows four places. */
export function placesOf(value) {
  const fraction = String(value).split(".")[1] || "";
  return Math.max(2, Math.min(fraction.length, 6));
}
