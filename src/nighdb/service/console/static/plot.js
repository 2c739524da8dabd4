// Drawing the map: points on a <canvas>, coloured by one metadata field, with the hits of the
// last search ringed and the query marked. Colours are a legend's, never a guess: the ten most
// frequent values of a text/boolean field get their own colour (the rest and absent values
// are grey), a numeric field runs from dark blue (smallest) to yellow (largest).

export const BACKGROUND = "#ffffff";
const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
];
const OTHER = "#c7c7c7";
const HIT = "#000000";
const QUERY = "#e00000";
const MARGIN = 16;

function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}

// colour(metadata) and the legend's entries [label, colour], for the field over the sample.
export function colouring(items, field) {
  if (!field) return { colour: () => PALETTE[0], legend: [] };
  const values = items.map((item) => item.metadata[field]);
  const present = values.filter((v) => v !== undefined && v !== null);
  if (present.length && present.every(isNumber)) {
    const low = Math.min(...present);
    const high = Math.max(...present);
    const colour = (metadata) => {
      const v = metadata[field];
      if (!isNumber(v)) return OTHER;
      const t = high > low ? (v - low) / (high - low) : 0.5;
      // dark blue -> teal -> yellow, readable on white
      const r = Math.round(68 + t * (253 - 68));
      const g = Math.round(1 + t * (231 - 1));
      const b = Math.round(84 + t * (37 - 84));
      return `rgb(${r}, ${g}, ${b})`;
    };
    return { colour, legend: [[`${field} = ${low}`, colour({ [field]: low })], [`${field} = ${high}`, colour({ [field]: high })]] };
  }
  const counts = new Map();
  for (const v of present) {
    const key = JSON.stringify(v);
    counts.set(key, (counts.get(key) || 0) + 1);
  }
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, PALETTE.length);
  const colours = new Map(top.map(([key], i) => [key, PALETTE[i]]));
  const colour = (metadata) => {
    const v = metadata[field];
    if (v === undefined || v === null) return OTHER;
    return colours.get(JSON.stringify(v)) || OTHER;
  };
  const legend = top.map(([key, n]) => [`${key} (${n})`, colours.get(key)]);
  if (present.length < values.length || counts.size > top.length) legend.push(["other or absent", OTHER]);
  return { colour, legend };
}

// points: [{x, y, colour, id}], hits: [{x, y}], query: {x, y} or null.
// Returns the screen position of every point (for clicks on the map).
export function draw(canvas, points, hits, query) {
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = BACKGROUND;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const all = [...points, ...hits, ...(query ? [query] : [])];
  if (!all.length) return [];
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const scale = Math.min(
    (canvas.width - 2 * MARGIN) / Math.max(x1 - x0, 1e-12),
    (canvas.height - 2 * MARGIN) / Math.max(y1 - y0, 1e-12),
  );
  // One scale for both axes (distances on the map mean the same either way), centred.
  const left = (canvas.width - (x1 - x0) * scale) / 2;
  const bottom = (canvas.height - (y1 - y0) * scale) / 2;
  const sx = (x) => left + (x - x0) * scale;
  const sy = (y) => canvas.height - bottom - (y - y0) * scale;
  const screen = [];
  ctx.globalAlpha = 0.8;
  for (const p of points) {
    const [px, py] = [sx(p.x), sy(p.y)];
    ctx.fillStyle = p.colour;
    ctx.beginPath();
    ctx.arc(px, py, 3, 0, 2 * Math.PI);
    ctx.fill();
    screen.push({ x: px, y: py, id: p.id });
  }
  ctx.globalAlpha = 1;
  ctx.lineWidth = 2;
  ctx.strokeStyle = HIT;
  for (const h of hits) {
    ctx.beginPath();
    ctx.arc(sx(h.x), sy(h.y), 7, 0, 2 * Math.PI);
    ctx.stroke();
  }
  if (query) {
    const [qx, qy] = [sx(query.x), sy(query.y)];
    ctx.strokeStyle = QUERY;
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.moveTo(qx - 8, qy - 8);
    ctx.lineTo(qx + 8, qy + 8);
    ctx.moveTo(qx + 8, qy - 8);
    ctx.lineTo(qx - 8, qy + 8);
    ctx.stroke();
  }
  return screen;
}
