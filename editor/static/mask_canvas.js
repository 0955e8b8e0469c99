// The mask canvas: the body of gr.HTML's js_on_load (element, trigger, props, server, upload, watch are given).
//
// The truth is one RGBA ImageData `md` at the photo's FULL size whose alpha is 0 or 255: what the canvas shows
// (drawn from md) and what the server receives (md's alpha, in pipelines/maskcodec.py's text form) are the same
// pixels. The photo itself is only a picture (a display-size JPEG drawn over the full-size grid); it never goes
// back to the server. Every edit is rasterised here at full resolution with hard edges (pixel centres inside the
// brush capsule / lasso polygon), so there is no anti-aliasing to threshold.
//
// Value to the server (props.value): {w, h, key, rev, mask: "r:..."|"b:...", area}. Values from the server carry an
// `op`: load | mask | proposal | band | result | notice; after handling one, props.value is the mask state again.
// Coordinates: image pixels (x right, y down), boxes XYXY with exclusive ends.

const root = element.querySelector('.mc');
const view = root.querySelector('.mc-view');
const stage = root.querySelector('.mc-stage');
const statusEl = root.querySelector('.mc-status');
const propBar = root.querySelector('.mc-proposal');
const helpEl = root.querySelector('.mc-help');
const emptyEl = root.querySelector('.mc-empty');
const sizeIn = root.querySelector('.mc-size');
const opacityIn = root.querySelector('.mc-opacity');
const ctx = view.getContext('2d');
const MASK_RGB = [255, 59, 48];
const PROP_RGB = [30, 144, 255];
const MAX_HISTORY = 100;

const S = {
  W: 0, H: 0, key: null, photo: null, md: null, maskCv: null, rev: 0, encoded: null, area: 0,
  undo: [], redo: [], tool: 'brush', size: 40, opacity: 0.55, outline: false, outlineCv: null, outlineFor: null,
  band: null, bandOn: false, candidates: [], chosen: 0, propCv: null, points: [], box: null, segSeq: 0,
  result: null, compare: false, split: 0.5, s: 1, tx: 0, ty: 0, space: false, drag: null, poly: [], cursor: null,
  dirty: null, notice: '',
  pads: null,  // outpaint frame [left, top, right, bottom] in photo px, or null
};

// ------------------------------------------------------------------------------------------------ codec
function b64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
function unb64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
// md's alpha -> "r:" runs or "b:" bits, whichever is shorter (as pipelines/maskcodec.py.encode)
function encodeAlpha(data, n) {
  let buf = new Uint8Array(1 << 16), len = 0, area = 0;
  const push = (v) => {
    if (len + 10 > buf.length) { const nb = new Uint8Array(buf.length * 2); nb.set(buf); buf = nb; }
    while (v >= 128) { buf[len++] = (v % 128) | 128; v = Math.floor(v / 128); }
    buf[len++] = v;
  };
  let cur = 0, run = 0;
  for (let k = 0, i = 3; k < n; k++, i += 4) {
    const v = data[i] > 127 ? 1 : 0;
    area += v;
    if (v === cur) run++; else { push(run); cur = v; run = 1; }
  }
  if (n) push(run);
  const bitsLen = (n + 7) >> 3;
  if (len <= bitsLen) return { text: 'r:' + b64(buf.subarray(0, len)), area };
  const bits = new Uint8Array(bitsLen);
  for (let k = 0, i = 3; k < n; k++, i += 4) if (data[i] > 127) bits[k >> 3] |= 128 >> (k & 7);
  return { text: 'b:' + b64(bits), area };
}
// text -> sets alpha of `data` (RGBA, n pixels) to 255/0; returns the area or throws
function decodeInto(text, data, n) {
  const kind = text.slice(0, 2), bytes = unb64(text.slice(2));
  let area = 0;
  if (kind === 'b:') {
    if (bytes.length !== ((n + 7) >> 3)) throw new Error('mask of another size');
    for (let k = 0, i = 3; k < n; k++, i += 4) {
      const v = (bytes[k >> 3] >> (7 - (k & 7))) & 1;
      data[i] = v ? 255 : 0; area += v;
    }
    return area;
  }
  if (kind !== 'r:') throw new Error('unknown mask format');
  let k = 0, value = 0, i = 0;
  while (i < bytes.length) {
    let run = 0, mul = 1, b;
    do { b = bytes[i++]; run += (b & 127) * mul; mul *= 128; } while (b & 128);
    if (k + run > n) throw new Error('mask of another size');
    const a = value ? 255 : 0;
    for (let end = k + run; k < end; k++) data[4 * k + 3] = a;
    if (value) area += run;
    value ^= 1;
  }
  if (k !== n) throw new Error('mask of another size');
  return area;
}

// ------------------------------------------------------------------------------------------------ state
function newMaskData(W, H, rgb) {
  const md = new ImageData(W, H);
  const d = md.data;
  for (let i = 0; i < d.length; i += 4) { d[i] = rgb[0]; d[i + 1] = rgb[1]; d[i + 2] = rgb[2]; }
  return md;
}
function canvasOf(W, H) {
  const c = document.createElement('canvas');
  c.width = W; c.height = H;
  return c;
}
function value() {
  if (!S.md) return null;
  return { w: S.W, h: S.H, key: S.key, rev: S.rev, mask: S.encoded, area: S.area };
}
function publish() {
  const e = encodeAlpha(S.md.data, S.W * S.H);
  S.encoded = e.text; S.area = e.area;
  S.outlineFor = null;
  props.value = value();
  status();
}
function beginEdit() {
  S.undo.push(S.encoded);
  if (S.undo.length > MAX_HISTORY) S.undo.shift();
  S.redo = [];
}
function endEdit() { S.rev++; flush(); publish(); }
function setWhole(text) {
  S.area = decodeInto(text, S.md.data, S.W * S.H);
  S.encoded = text; S.outlineFor = null;
  S.maskCv.getContext('2d').putImageData(S.md, 0, 0);
}
function undo() {
  if (!S.undo.length) return;
  S.redo.push(S.encoded);
  setWhole(S.undo.pop()); S.rev++; props.value = value(); status(); render();
}
function redo() {
  if (!S.redo.length) return;
  S.undo.push(S.encoded);
  setWhole(S.redo.pop()); S.rev++; props.value = value(); status(); render();
}
function markDirty(x0, y0, x1, y1) {  // inclusive pixel bounds
  const d = S.dirty;
  S.dirty = d ? [Math.min(d[0], x0), Math.min(d[1], y0), Math.max(d[2], x1), Math.max(d[3], y1)] : [x0, y0, x1, y1];
}
function flush() {
  if (!S.dirty) return;
  const [x0, y0, x1, y1] = S.dirty;
  S.dirty = null;
  S.maskCv.getContext('2d').putImageData(S.md, 0, 0, x0, y0, x1 - x0 + 1, y1 - y0 + 1);
  S.outlineFor = null;
}

// ------------------------------------------------------------------------------------------------ rasterising
// pixel (x, y) is inside when its centre (x + .5, y + .5) is within r of the segment (x0, y0)-(x1, y1)
function capsule(x0, y0, x1, y1, r, on) {
  const W = S.W, H = S.H, d = S.md.data, a = on ? 255 : 0;
  const minx = Math.max(0, Math.floor(Math.min(x0, x1) - r)), maxx = Math.min(W - 1, Math.ceil(Math.max(x0, x1) + r));
  const miny = Math.max(0, Math.floor(Math.min(y0, y1) - r)), maxy = Math.min(H - 1, Math.ceil(Math.max(y0, y1) + r));
  if (minx > maxx || miny > maxy) return;
  const dx = x1 - x0, dy = y1 - y0, L2 = dx * dx + dy * dy, r2 = r * r;
  for (let y = miny; y <= maxy; y++) {
    const py = y + 0.5;
    for (let x = minx; x <= maxx; x++) {
      const px = x + 0.5;
      let t = L2 ? ((px - x0) * dx + (py - y0) * dy) / L2 : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const ex = x0 + t * dx - px, ey = y0 + t * dy - py;
      if (ex * ex + ey * ey <= r2) d[4 * (y * W + x) + 3] = a;
    }
  }
  markDirty(minx, miny, maxx, maxy);
}
// even-odd fill of a polygon (image coords) on pixel centres
function polygon(pts, on) {
  if (pts.length < 3) return;
  const W = S.W, H = S.H, d = S.md.data, a = on ? 255 : 0;
  let miny = Infinity, maxy = -Infinity;
  for (const p of pts) { miny = Math.min(miny, p[1]); maxy = Math.max(maxy, p[1]); }
  const y0 = Math.max(0, Math.floor(miny)), y1 = Math.min(H - 1, Math.ceil(maxy));
  let bx0 = W, bx1 = -1;
  for (let y = y0; y <= y1; y++) {
    const py = y + 0.5, xs = [];
    for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
      const [xi, yi] = pts[i], [xj, yj] = pts[j];
      if ((yi > py) !== (yj > py)) xs.push(xi + (py - yi) * (xj - xi) / (yj - yi));
    }
    xs.sort((p, q) => p - q);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const from = Math.max(0, Math.ceil(xs[k] - 0.5)), to = Math.min(W - 1, Math.ceil(xs[k + 1] - 0.5) - 1);
      for (let x = from; x <= to; x++) d[4 * (y * W + x) + 3] = a;
      if (from <= to) { bx0 = Math.min(bx0, from); bx1 = Math.max(bx1, to); }
    }
  }
  if (bx1 >= bx0) markDirty(bx0, y0, bx1, y1);
}
// grow / shrink by px with the digital disc {dx*dx + dy*dy <= px*px}, exactly as pipelines/masks.py grow/shrink: an
// exact Euclidean distance transform (column runs, then the lower envelope of parabolas per row, Felzenszwalb &
// Huttenlocher) over the mask's box widened by px (grow) or 1 (shrink; beyond the photo's edge counts as inside).
// Here rather than on the server: on a 24 MP photo the server round trip alone is ~0.5 s.
function morph(px, growing) {
  const W = S.W, H = S.H, d = S.md.data;
  px = Math.max(0, Math.round(px));
  let bx0 = W, by0 = H, bx1 = -1, by1 = -1;
  for (let y = 0; y < H; y++) {
    let first = -1, last = -1;
    for (let x = 0, i = 4 * y * W + 3; x < W; x++, i += 4) if (d[i]) { if (first < 0) first = x; last = x; }
    if (first >= 0) { bx0 = Math.min(bx0, first); bx1 = Math.max(bx1, last); if (by0 === H) by0 = y; by1 = y; }
  }
  if (px === 0 || bx1 < 0 || S.area === W * H) return false;
  const pad = growing ? px : 1;
  const X0 = Math.max(0, bx0 - pad), Y0 = Math.max(0, by0 - pad), X1 = Math.min(W - 1, bx1 + pad), Y1 = Math.min(H - 1, by1 + pad);
  const rw = X1 - X0 + 1, rh = Y1 - Y0 + 1, CAP = px + 1, r2 = px * px;
  const src = (x, y) => (d[4 * ((Y0 + y) * W + X0 + x) + 3] > 0) === growing;  // what distances are measured to
  const g = new Uint16Array(rw * rh), run = new Uint16Array(rw);
  run.fill(CAP);
  for (let y = 0; y < rh; y++) for (let x = 0; x < rw; x++) {
    run[x] = src(x, y) ? 0 : Math.min(CAP, run[x] + 1); g[y * rw + x] = run[x];
  }
  run.fill(CAP);
  for (let y = rh - 1; y >= 0; y--) for (let x = 0; x < rw; x++) {
    run[x] = src(x, y) ? 0 : Math.min(CAP, run[x] + 1);
    if (run[x] < g[y * rw + x]) g[y * rw + x] = run[x];
  }
  const v = new Int32Array(rw), z = new Float64Array(rw + 1), f = new Float64Array(rw);
  beginEdit();
  for (let y = 0; y < rh; y++) {
    let k = -1;
    for (let q = 0; q < rw; q++) {
      const gq = g[y * rw + q];
      if (gq >= CAP) continue;  // farther than px vertically: never within the disc
      f[q] = gq * gq;
      let s = -Infinity;
      while (k >= 0) {
        const p = v[k];
        s = ((f[q] + q * q) - (f[p] + p * p)) / (2 * (q - p));
        if (s <= z[k]) k--; else break;
      }
      k++; v[k] = q; z[k] = k === 0 ? -Infinity : s; z[k + 1] = Infinity;
    }
    const base = 4 * ((Y0 + y) * W + X0) + 3;
    for (let q = 0, j = 0; q < rw; q++) {
      let near = false;
      if (k >= 0) { while (z[j + 1] < q) j++; const p = v[j]; near = (q - p) * (q - p) + f[p] <= r2; }
      const i = base + 4 * q;
      if (growing) { if (near) d[i] = 255; } else if (d[i] && near) d[i] = 0;
    }
  }
  markDirty(X0, Y0, X1, Y1);
  endEdit();
  return true;
}
function invertMask() {
  beginEdit();
  const d = S.md.data;
  for (let i = 3; i < d.length; i += 4) d[i] = d[i] ? 0 : 255;
  markDirty(0, 0, S.W - 1, S.H - 1); endEdit();
}
function clearMask() {
  if (!S.area) return;
  beginEdit();
  const d = S.md.data;
  for (let i = 3; i < d.length; i += 4) d[i] = 0;
  markDirty(0, 0, S.W - 1, S.H - 1); endEdit();
}

// the proposal (candidate) into or out of the mask
function applyProposal(on) {
  const c = S.candidates[S.chosen];
  if (!c) return;
  const n = S.W * S.H, tmp = new Uint8ClampedArray(4 * n);
  decodeInto(c.mask, tmp, n);
  beginEdit();
  const d = S.md.data, a = on ? 255 : 0;
  for (let i = 3; i < 4 * n; i += 4) if (tmp[i]) d[i] = a;
  markDirty(0, 0, S.W - 1, S.H - 1);
  endEdit();
  discardProposal();
}
function discardProposal() {
  S.candidates = []; S.points = []; S.box = null; S.propCv = null; S.segSeq++;
  propBar.hidden = true; render();
}

// ------------------------------------------------------------------------------------------------ view
function fit() {
  if (!S.W) return;
  const w = stage.clientWidth, h = stage.clientHeight, [l, t, r, b] = S.pads || [0, 0, 0, 0];
  if (!w || !h) return;  // not laid out (a hidden tab): the resize observer fits it when it is
  S.fitted = true;
  const fw = S.W + l + r, fh = S.H + t + b;
  S.s = Math.min(w / fw, h / fh);
  S.tx = (w - fw * S.s) / 2 + l * S.s; S.ty = (h - fh * S.s) / 2 + t * S.s;
  status(); render();
}
function zoomAt(factor, cx, cy) {
  S.userView = true;
  const s = Math.min(64, Math.max(0.01, S.s * factor));
  S.tx = cx - (cx - S.tx) * (s / S.s); S.ty = cy - (cy - S.ty) * (s / S.s); S.s = s;
  render();
}
function toImage(ev) {
  const r = view.getBoundingClientRect();
  return [(ev.clientX - r.left - S.tx) / S.s, (ev.clientY - r.top - S.ty) / S.s];
}
function outlineCanvas() {
  const t = Math.max(1, Math.ceil(1.5 / S.s));
  if (S.outlineCv && S.outlineFor === S.rev + ':' + t) return S.outlineCv;
  const W = S.W, H = S.H, d = S.md.data, od = newMaskData(W, H, MASK_RGB), o = od.data;
  const on = (x, y) => x >= 0 && y >= 0 && x < W && y < H && d[4 * (y * W + x) + 3];
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    if (d[4 * (y * W + x) + 3] && !(on(x - t, y) && on(x + t, y) && on(x, y - t) && on(x, y + t))) o[4 * (y * W + x) + 3] = 255;
  }
  S.outlineCv = S.outlineCv && S.outlineCv.width === W ? S.outlineCv : canvasOf(W, H);
  S.outlineCv.getContext('2d').putImageData(od, 0, 0);
  S.outlineFor = S.rev + ':' + t;
  return S.outlineCv;
}
let frame = 0;
function render() {
  if (frame) return;
  frame = requestAnimationFrame(() => { frame = 0; draw(); });
}
function draw() {
  const dpr = window.devicePixelRatio || 1, w = stage.clientWidth, h = stage.clientHeight;
  if (view.width !== Math.round(w * dpr) || view.height !== Math.round(h * dpr)) {
    view.width = Math.round(w * dpr); view.height = Math.round(h * dpr);
    view.style.width = w + 'px'; view.style.height = h + 'px';
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  emptyEl.hidden = !!S.md;
  if (!S.md) return;
  ctx.save();
  ctx.translate(S.tx, S.ty); ctx.scale(S.s, S.s);
  ctx.imageSmoothingEnabled = S.s < 1;
  if (S.pads) {  // outpaint: the new canvas around the photo, the new area shaded
    const [l, t, r, b] = S.pads;
    ctx.fillStyle = 'rgba(40, 40, 60, 0.55)'; ctx.fillRect(-l, -t, S.W + l + r, S.H + t + b);
    if (S.photo) ctx.drawImage(S.photo, 0, 0, S.W, S.H);
    if (S.compare && S.result) {
      const sx = -l + Math.round(S.split * (S.W + l + r));
      ctx.save(); ctx.beginPath(); ctx.rect(sx, -t, S.W + r - sx, S.H + t + b); ctx.clip();
      ctx.drawImage(S.result, -l, -t, S.W + l + r, S.H + t + b); ctx.restore();
    }
    ctx.restore();
    const [X0, Y0] = [S.tx - l * S.s, S.ty - t * S.s], [X1, Y1] = [S.tx + (S.W + r) * S.s, S.ty + (S.H + b) * S.s];
    ctx.strokeStyle = '#fff'; ctx.lineWidth = 2; ctx.setLineDash([8, 5]); ctx.strokeRect(X0, Y0, X1 - X0, Y1 - Y0);
    ctx.setLineDash([]);
    ctx.font = '13px sans-serif'; ctx.fillStyle = 'rgba(0,0,0,.65)'; ctx.fillRect(X0 + 6, Y0 + 6, 230, 20);
    ctx.fillStyle = '#fff';
    ctx.fillText(`new canvas ${S.W + l + r}×${S.H + t + b} · drag its edges`, X0 + 12, Y0 + 21);
    if (S.compare && S.result) {
      const X = S.tx + (-l + S.split * (S.W + l + r)) * S.s;
      ctx.fillStyle = '#fff'; ctx.fillRect(X - 1, 0, 2, h);
    }
    return;
  }
  if (S.photo) ctx.drawImage(S.photo, 0, 0, S.W, S.H);
  if (S.compare && S.result) {
    const sx = Math.round(S.split * S.W);
    ctx.save(); ctx.beginPath(); ctx.rect(sx, 0, S.W - sx, S.H); ctx.clip();
    ctx.drawImage(S.result, 0, 0, S.W, S.H); ctx.restore();
  } else {
    ctx.globalAlpha = S.outline ? 1 : S.opacity;
    ctx.drawImage(S.outline ? outlineCanvas() : S.maskCv, 0, 0);
    ctx.globalAlpha = 1;
    if (S.propCv) { ctx.globalAlpha = 0.5; ctx.drawImage(S.propCv, 0, 0); ctx.globalAlpha = 1; }
    if (S.bandOn && S.band) ctx.drawImage(S.band, 0, 0, S.W, S.H);
  }
  ctx.restore();
  // screen-space marks
  const P = (x, y) => [S.tx + x * S.s, S.ty + y * S.s];
  for (const [x, y, label] of S.points) {
    const [X, Y] = P(x, y);
    ctx.beginPath(); ctx.arc(X, Y, 7, 0, 2 * Math.PI); ctx.fillStyle = '#fff'; ctx.fill();
    ctx.beginPath(); ctx.arc(X, Y, 5, 0, 2 * Math.PI); ctx.fillStyle = label ? '#00c000' : '#e00000'; ctx.fill();
  }
  const box = S.drag && S.drag.kind === 'box' ? S.drag.rect : S.box;
  if (box) {
    const [X0, Y0] = P(box[0], box[1]), [X1, Y1] = P(box[2], box[3]);
    ctx.strokeStyle = '#ffd700'; ctx.lineWidth = 2; ctx.strokeRect(X0, Y0, X1 - X0, Y1 - Y0);
  }
  const path = S.drag && S.drag.kind === 'lasso' ? S.drag.pts : S.poly;
  if (path.length) {
    ctx.beginPath();
    path.forEach(([x, y], i) => { const [X, Y] = P(x, y); i ? ctx.lineTo(X, Y) : ctx.moveTo(X, Y); });
    if (S.cursor && path === S.poly) { const [X, Y] = P(S.cursor[0], S.cursor[1]); ctx.lineTo(X, Y); }
    ctx.strokeStyle = '#fff'; ctx.lineWidth = 1.5; ctx.setLineDash([5, 4]); ctx.stroke(); ctx.setLineDash([]);
  }
  if (S.compare && S.result) {
    const [X] = P(S.split * S.W, 0);
    ctx.fillStyle = '#fff'; ctx.fillRect(X - 1, 0, 2, h);
    ctx.font = '13px sans-serif'; ctx.fillStyle = 'rgba(0,0,0,.6)';
    ctx.fillRect(X - 64, 8, 56, 20); ctx.fillRect(X + 8, 8, 48, 20);
    ctx.fillStyle = '#fff'; ctx.fillText('before', X - 58, 23); ctx.fillText('after', X + 14, 23);
  }
  if (S.cursor && (S.tool === 'brush' || S.tool === 'eraser') && !S.compare) {
    const [X, Y] = P(S.cursor[0], S.cursor[1]);
    ctx.beginPath(); ctx.arc(X, Y, Math.max(1, S.size / 2 * S.s), 0, 2 * Math.PI);
    ctx.strokeStyle = '#fff'; ctx.lineWidth = 1; ctx.stroke();
    ctx.strokeStyle = '#000'; ctx.setLineDash([3, 3]); ctx.stroke(); ctx.setLineDash([]);
  }
}
function status(extra) {
  if (extra !== undefined) S.notice = extra;
  const zoom = Math.round(S.s * 100);
  statusEl.textContent = S.md && S.pads
    ? `outpaint: ${S.W}×${S.H} → ${S.W + S.pads[0] + S.pads[2]}×${S.H + S.pads[1] + S.pads[3]} (left ${S.pads[0]}, top ${S.pads[1]}, right ${S.pads[2]}, bottom ${S.pads[3]})` + (S.notice ? ' · ' + S.notice : '')
    : S.md
    ? `${S.W}×${S.H} · zoom ${zoom}% · mask ${S.area.toLocaleString()} px (${(100 * S.area / (S.W * S.H)).toFixed(2)}%)` +
      ` · ${S.tool}${S.tool === 'brush' || S.tool === 'eraser' ? ' ' + S.size + ' px' : ''}` +
      ` · undo ${S.undo.length}` + (S.notice ? ' · ' + S.notice : '')
    : 'Upload a photo to paint its mask.';
  root.querySelectorAll('[data-tool]').forEach((b) => b.classList.toggle('on', b.dataset.tool === S.tool));
  root.querySelector('[data-act=outline]').classList.toggle('on', S.outline);
  root.querySelector('[data-act=band]').classList.toggle('on', S.bandOn);
  root.querySelector('[data-act=compare]').classList.toggle('on', S.compare);
  root.querySelector('[data-act=compare]').disabled = !S.result;
  root.querySelector('[data-act=undo]').disabled = !S.undo.length;
  root.querySelector('[data-act=redo]').disabled = !S.redo.length;
  sizeIn.value = S.size;
  root.querySelector('.mc-size-v').textContent = S.size + ' px';
}
function setTool(t) {
  S.tool = t;
  if (t !== 'lasso') S.poly = [];
  S.compare = false;
  status(); render();
}
function setSize(v) { S.size = Math.max(1, Math.min(2000, Math.round(v))); status(); render(); }

// ------------------------------------------------------------------------------------------------ pointer
view.addEventListener('contextmenu', (ev) => ev.preventDefault());
view.addEventListener('pointerdown', (ev) => {
  if (!S.md) return;
  root.focus({ preventScroll: true });
  view.setPointerCapture(ev.pointerId);
  const [x, y] = toImage(ev);
  if (ev.button === 1 || S.space || S.tool === 'pan') { S.drag = { kind: 'pan', x: ev.clientX, y: ev.clientY }; return; }
  if (S.pads) {  // outpaint: pull the side the pointer is beyond; in the photo, move the before/after line
    const side = x < 0 ? 0 : y < 0 ? 1 : x > S.W ? 2 : y > S.H ? 3 : -1;
    if (side >= 0) S.drag = { kind: 'edge', side };
    else if (S.compare && S.result) S.drag = { kind: 'split' };
    return;
  }
  if (S.compare && S.result) { S.drag = { kind: 'split' }; S.split = Math.min(1, Math.max(0, x / S.W)); render(); return; }
  if (S.tool === 'brush' || S.tool === 'eraser') {
    const on = S.tool === 'brush' && ev.button !== 2;
    beginEdit();
    S.drag = { kind: 'paint', on, last: [x, y] };
    capsule(x, y, x, y, S.size / 2, on); flush(); render();
  } else if (S.tool === 'lasso') {
    S.drag = { kind: 'lasso', pts: [[x, y]], start: [ev.clientX, ev.clientY], on: !(ev.altKey || ev.button === 2) };
  } else if (S.tool === 'box') {
    S.drag = { kind: 'box', from: [x, y], rect: [x, y, x, y] };
  } else if (S.tool === 'click') {
    const label = ev.altKey || ev.button === 2 ? 0 : 1;
    S.points.push([Math.min(S.W - 1, Math.max(0, x)), Math.min(S.H - 1, Math.max(0, y)), label]);
    requestSegment();
  }
});
view.addEventListener('pointermove', (ev) => {
  if (!S.md) return;
  const [x, y] = toImage(ev);
  S.cursor = [x, y];
  const g = S.drag;
  if (g && g.kind === 'pan') { S.userView = true; S.tx += ev.clientX - g.x; S.ty += ev.clientY - g.y; g.x = ev.clientX; g.y = ev.clientY; }
  else if (g && g.kind === 'split') {
    const [l, , r] = S.pads || [0, 0, 0, 0];
    S.split = Math.min(1, Math.max(0, (x + l) / (S.W + l + r)));
  }
  else if (g && g.kind === 'edge') {
    const v = [-x, -y, x - S.W, y - S.H][g.side];
    S.pads[g.side] = Math.max(0, Math.min(4 * (g.side % 2 ? S.H : S.W), Math.round(v)));
  }
  else if (g && g.kind === 'paint') { capsule(g.last[0], g.last[1], x, y, S.size / 2, g.on); g.last = [x, y]; flush(); }
  else if (g && g.kind === 'lasso') {
    g.pts.push([x, y]);
    g.far = Math.max(g.far || 0, Math.hypot(ev.clientX - g.start[0], ev.clientY - g.start[1]));
  }
  else if (g && g.kind === 'box') {
    const cx = Math.min(S.W, Math.max(0, x)), cy = Math.min(S.H, Math.max(0, y));
    g.rect = [Math.min(g.from[0], cx), Math.min(g.from[1], cy), Math.max(g.from[0], cx), Math.max(g.from[1], cy)];
  }
  render();
});
function endDrag(ev) {
  const g = S.drag;
  S.drag = null;
  if (!g) return;
  if (g.kind === 'paint') endEdit();
  else if (g.kind === 'edge') { trigger('frame', { pads: S.pads.slice() }); status(); }
  else if (g.kind === 'lasso') {
    const moved = (g.far || 0) > 4;  // the farthest it went from where it started: a loop ends near its start
    if (moved && g.pts.length > 2) { beginEdit(); polygon(g.pts, g.on); endEdit(); S.poly = []; }
    else {  // a click: a polygon corner; close by clicking the first corner, double-click or Enter
      const p = g.pts[0];
      if (S.poly.length > 2) {
        const [X0, Y0] = [S.tx + S.poly[0][0] * S.s, S.ty + S.poly[0][1] * S.s];
        const r = view.getBoundingClientRect();
        if (Math.hypot(ev.clientX - r.left - X0, ev.clientY - r.top - Y0) < 8) { closePolygon(g.on); render(); return; }
      }
      S.poly.push(p); S.polyOn = g.on;
    }
  } else if (g.kind === 'box') {
    const [x0, y0, x1, y1] = g.rect.map(Math.round);
    if (x1 - x0 >= 2 && y1 - y0 >= 2) { S.box = [x0, y0, x1, y1]; requestSegment(); }
  }
  render();
}
function closePolygon(on) {
  if (S.poly.length > 2) { beginEdit(); polygon(S.poly, on === undefined ? S.polyOn !== false : on); endEdit(); }
  S.poly = [];
}
view.addEventListener('pointerup', endDrag);
view.addEventListener('pointercancel', endDrag);
view.addEventListener('dblclick', () => { if (S.tool === 'lasso') { closePolygon(); render(); } });
view.addEventListener('pointerleave', () => { S.cursor = null; render(); });
view.addEventListener('wheel', (ev) => {
  if (!S.md) return;
  ev.preventDefault();
  const r = view.getBoundingClientRect();
  zoomAt(Math.pow(1.0015, -ev.deltaY), ev.clientX - r.left, ev.clientY - r.top);
  status();
}, { passive: false });

function requestSegment() {
  S.segSeq++;
  status('selecting…');
  render();
  trigger('segment', { points: S.points.map((p) => [p[0], p[1]]), labels: S.points.map((p) => p[2]), box: S.box, seq: S.segSeq });
}

// ------------------------------------------------------------------------------------------------ keys, buttons
root.addEventListener('keydown', (ev) => {
  if (ev.target.tagName === 'INPUT' && ev.target.type !== 'range') return;
  const k = ev.key, mod = ev.ctrlKey || ev.metaKey;
  let done = true;
  if (mod && (k === 'z' || k === 'Z')) ev.shiftKey ? redo() : undo();
  else if (mod && (k === 'y' || k === 'Y')) redo();
  else if (mod) done = false;
  else if (k === '[') setSize(S.size / 1.25);
  else if (k === ']') setSize(S.size * 1.25);
  else if (k === 'b' || k === 'B') setTool('brush');
  else if (k === 'e' || k === 'E') setTool('eraser');
  else if (k === 'l' || k === 'L') setTool('lasso');
  else if (k === 's' || k === 'S') setTool('click');
  else if (k === 'x' || k === 'X') setTool('box');
  else if (k === 'h' || k === 'H') setTool('pan');
  else if (k === '+' || k === '=') { zoomAt(1.25, stage.clientWidth / 2, stage.clientHeight / 2); status(); }
  else if (k === '-' || k === '_') { zoomAt(0.8, stage.clientWidth / 2, stage.clientHeight / 2); status(); }
  else if (k === '0') { S.userView = false; fit(); }
  else if (k === '1') { zoomAt(1 / S.s, stage.clientWidth / 2, stage.clientHeight / 2); status(); }
  else if (k === 'o' || k === 'O') { S.outline = !S.outline; status(); render(); }
  else if (k === '?') helpEl.hidden = !helpEl.hidden;
  else if (k === ' ') { S.space = true; }
  else if (k === 'Enter') { if (S.poly.length) { closePolygon(); render(); } else if (S.candidates.length) applyProposal(true); }
  else if (k === 'Escape') { if (S.poly.length) { S.poly = []; render(); } else if (S.candidates.length || S.points.length) discardProposal(); else helpEl.hidden = true; }
  else done = false;
  if (done) ev.preventDefault();
});
root.addEventListener('keyup', (ev) => { if (ev.key === ' ') S.space = false; });
root.querySelectorAll('[data-tool]').forEach((b) => b.addEventListener('click', () => setTool(b.dataset.tool)));
const actions = {
  undo, redo, fit: () => { S.userView = false; fit(); },
  'zoom-in': () => { zoomAt(1.25, stage.clientWidth / 2, stage.clientHeight / 2); status(); },
  'zoom-out': () => { zoomAt(0.8, stage.clientWidth / 2, stage.clientHeight / 2); status(); },
  outline: () => { S.outline = !S.outline; status(); render(); },
  // a late answer to a request the user has since taken back (toggled off) is ignored: the seq moved on
  band: () => {
    S.bandOn = !S.bandOn; S.bandSeq = (S.bandSeq || 0) + 1;
    if (S.bandOn) { S.band = null; trigger('band', { seq: S.bandSeq }); }  // shown when the fresh one arrives
    status(); render();
  },
  compare: () => { S.compare = !S.compare && !!S.result; status(); render(); },
  help: () => { helpEl.hidden = !helpEl.hidden; },
  add: () => applyProposal(true),
  subtract: () => applyProposal(false),
  discard: discardProposal,
};
root.querySelectorAll('[data-act]').forEach((b) => b.addEventListener('click', () => actions[b.dataset.act]()));
sizeIn.addEventListener('input', () => setSize(+sizeIn.value));
opacityIn.addEventListener('input', () => { S.opacity = +opacityIn.value / 100; render(); });
// on a resize the photo is fitted again until the user zooms or pans it themselves
new ResizeObserver(() => { if (S.md && (!S.fitted || !S.userView)) fit(); render(); }).observe(stage);

// ------------------------------------------------------------------------------------------------ from the server
function loadImage(url) {
  return new Promise((resolve, reject) => {
    const im = new Image();
    im.onload = () => resolve(im);
    im.onerror = () => reject(new Error('the picture could not be shown'));
    im.src = url;
  });
}
function showCandidates(list, best, info, colour) {
  S.candidates = list || []; S.chosen = best || 0;
  if (colour !== undefined) S.propColour = colour || PROP_RGB;
  const holder = propBar.querySelector('.mc-cands');
  holder.innerHTML = '';
  S.candidates.forEach((c, i) => {
    const b = document.createElement('button');
    b.textContent = c.label; b.className = i === S.chosen ? 'on' : '';
    b.addEventListener('click', () => { S.chosen = i; showCandidates(S.candidates, i, info, S.propColour); });
    holder.appendChild(b);
  });
  propBar.querySelector('.mc-prop-info').textContent = info || '';
  propBar.hidden = !S.candidates.length;
  S.propCv = null;
  const c = S.candidates[S.chosen];
  if (c) {
    const pd = newMaskData(S.W, S.H, S.propColour || PROP_RGB);
    decodeInto(c.mask, pd.data, S.W * S.H);
    S.propCv = canvasOf(S.W, S.H);
    S.propCv.getContext('2d').putImageData(pd, 0, 0);
  }
  render();
}
async function receive(v) {
  if (!v || typeof v !== 'object' || !v.op) return;
  try {
    if (v.op === 'load') {
      const photo = await loadImage(v.photo);
      Object.assign(S, { W: v.w, H: v.h, key: v.key, photo, rev: 0, fitted: false, userView: false, undo: [], redo: [], candidates: [], points: [],
        box: null, poly: [], propCv: null, band: null, bandOn: false, result: null, compare: false, notice: '',
        outlineCv: null, outlineFor: null, pads: null });
      S.md = newMaskData(v.w, v.h, MASK_RGB);
      S.maskCv = canvasOf(v.w, v.h);
      if (v.mask) decodeInto(v.mask, S.md.data, v.w * v.h);
      S.maskCv.getContext('2d').putImageData(S.md, 0, 0);
      propBar.hidden = true;
      publish(); fit();
    } else if (!S.md || (v.key && v.key !== S.key)) {
      return;  // meant for another photo
    } else if (v.op === 'mask') {
      if (v.base !== undefined && v.base !== null && v.base !== S.rev) {
        status('the mask changed while the server worked on it: press the button again');
      } else {
        beginEdit(); setWhole(v.mask); S.rev++; props.value = value(); status(v.note || ''); render();
      }
    } else if (v.op === 'proposal') {
      // a click's answer must be for the latest click; a text selection (seq null) always shows
      if (v.seq === null || v.seq === undefined || v.seq === S.segSeq) { showCandidates(v.candidates, v.best, v.info, v.colour); status(''); }
    } else if (v.op === 'band') {  // seq: the answer to the Band button; none: the sliders moved
      const current = () => v.seq === null || v.seq === undefined || v.seq === S.bandSeq;
      const picture = current() && v.band ? await loadImage(v.band) : null;
      if (current()) {  // asked again after the picture loaded: the user may have turned it off meanwhile
        S.band = picture; S.bandOn = !!picture; status(v.note || ''); render();
      }
    } else if (v.op === 'result') {
      S.result = v.result ? await loadImage(v.result) : null; S.compare = !!S.result; S.split = 0.5; status(); render();
    } else if (v.op === 'frame') {
      S.pads = v.pads ? v.pads.slice() : null; S.compare = false; S.result = null; fit(); status(v.note || '');
    } else if (v.op === 'notice') {
      status(v.text || '');
    }
  } catch (err) {
    status(String(err && err.message || err));
  } finally {
    props.value = value();
  }
}
watch('value', () => receive(props.value));

// ------------------------------------------------------------------------------------------------ for tests
root.maskCanvas = {
  state: () => ({ W: S.W, H: S.H, rev: S.rev, s: S.s, tx: S.tx, ty: S.ty, tool: S.tool, size: S.size, area: S.area,
    undo: S.undo.length, redo: S.redo.length, candidates: S.candidates.length, compare: S.compare, key: S.key,
    band: S.bandOn && !!S.band, bandOn: S.bandOn,
    pads: S.pads }),
  mask: () => S.encoded,
  // what is on the mask canvas the view draws, read back from its pixels (not from md)
  shown: () => encodeAlpha(S.maskCv.getContext('2d').getImageData(0, 0, S.W, S.H).data, S.W * S.H).text,
  // client (page) coordinates of the centre of image pixel (x, y)
  client: (x, y) => { const r = view.getBoundingClientRect(); return [r.left + S.tx + (x + 0.5) * S.s, r.top + S.ty + (y + 0.5) * S.s]; },
  zoomTo: (s, x, y) => { S.userView = true; S.s = s; S.tx = stage.clientWidth / 2 - (x + 0.5) * s; S.ty = stage.clientHeight / 2 - (y + 0.5) * s; draw(); status(); },
  setTool, setSize, fit: () => { S.userView = false; fit(); }, undo, redo,
  setMask: (text) => { beginEdit(); setWhole(text); S.rev++; props.value = value(); status(); render(); },
  grow: (px) => { if (S.md) { morph(+px, true); render(); } },
  shrink: (px) => { if (S.md) { morph(+px, false); render(); } },
  invert: () => { if (S.md) { invertMask(); render(); } },
  clear: () => { if (S.md) { clearMask(); render(); } },
};
if (props.value && props.value.op) receive(props.value);
status();
