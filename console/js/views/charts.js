// Small hand-written SVG charts (no library): one bar per day with the target as a dashed line.
// A day with no data has no bar and a grey tick, so "nothing happened" never looks like "perfect".

const NS = "http://www.w3.org/2000/svg";

function node(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// values: [{label, value|null}], target: {value, direction}; scale: the top of the axis.
export function barChart(values, target, { scale, format, title }) {
  const w = 220, h = 80, pad = 14, bw = (w - 2 * pad) / values.length;
  const top = Math.max(scale, target ? target.value * 1.2 : 0, ...values.map((v) => v.value ?? 0)) || 1;
  const y = (v) => h - pad - (v / top) * (h - 2 * pad);
  const svg = node("svg", { viewBox: `0 0 ${w} ${h}`, class: "chart", role: "img", "aria-label": title });
  svg.append(node("title", {}, title));
  svg.append(node("line", { x1: pad, y1: h - pad, x2: w - pad, y2: h - pad, class: "axis" }));
  values.forEach((v, i) => {
    const x = pad + i * bw + 2;
    if (v.value === null || v.value === undefined) {
      svg.append(node("line", { x1: x, y1: h - pad - 1, x2: x + bw - 4, y2: h - pad - 1, class: "nodata" }));
    } else {
      const ok = !target || (target.direction === "min" ? v.value >= target.value : v.value <= target.value);
      const bar = node("rect", { x, y: y(v.value), width: bw - 4, height: Math.max(1, h - pad - y(v.value)),
        class: ok ? "bar ok" : "bar bad" });
      bar.append(node("title", {}, `${v.label}: ${format(v.value)}`));
      svg.append(bar);
    }
    svg.append(node("text", { x: x + (bw - 4) / 2, y: h - 2, class: "tick" }, v.label));
  });
  if (target) {
    svg.append(node("line", { x1: pad, y1: y(target.value), x2: w - pad, y2: y(target.value), class: "target" }));
  }
  return svg;
}
