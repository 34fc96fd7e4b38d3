// roicodec serve: paint the ROI, pick the size, compare with AVIF and WebP at the same byte count.
// Plain JavaScript, no libraries and nothing fetched from the internet (the page works offline).
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  upload: null,      // {id, width, height, name, notes}
  image: null,       // HTMLImageElement of the picture as the codec sees it
  mask: document.createElement("canvas"),  // white, alpha = importance, at the picture's size
  tint: document.createElement("canvas"),  // the mask coloured for display
  job: null,         // id of the running or last job
  result: null,
  pictures: {},      // name -> HTMLImageElement (original, roicodec, avif, webp)
  overlay: null,     // the importance the file carries, as an RGBA heat map
};
const LABELS = {original: "original", roicodec: "roicodec", avif: "AVIF", webp: "WebP"};
const FILE_LABELS = {"rcz": "roicodec .rcz", "roicodec.png": "roicodec decoded .png", "avif": "AVIF .avif",
                     "avif.png": "AVIF decoded .png", "webp": "WebP .webp", "webp.png": "WebP decoded .png"};

// ---- server calls ---------------------------------------------------------------------------

async function api(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    throw new Error("the server does not answer (is roicodec serve still running?)");
  }
  let body = {};
  try { body = await response.json(); } catch (err) { /* not JSON */ }
  if (!response.ok) throw new Error(body.detail || `${response.status} ${response.statusText}`);
  return body;
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const im = new Image();
    im.onload = () => resolve(im);
    im.onerror = () => reject(new Error(`cannot load ${src}`));
    im.src = src;
  });
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function setState(name) {
  document.body.dataset.state = name;
  const ready = name !== "empty" && name !== "running";
  for (const id of ["compress", "auto-roi", "clear-roi"]) $(id).disabled = !ready;
}

// ---- opening a picture ----------------------------------------------------------------------

async function openFile(file) {
  if (!file) return;
  showError("");
  $("picture-name").textContent = `${file.name}: uploading…`;
  const form = new FormData();
  form.append("file", file);
  try {
    const upload = await api("/api/images", {method: "POST", body: form});
    const image = await loadImage(`/api/images/${upload.id}/image.png`);
    state.upload = upload;
    state.image = image;
    state.result = null;
    for (const c of [state.mask, state.tint, $("paint")]) { c.width = upload.width; c.height = upload.height; }
    $("picture-name").textContent = `${file.name}: ${upload.width}×${upload.height}` +
      (upload.notes.length ? ` (${upload.notes.join("; ")})` : "");
    $("roi-sources").textContent = "";
    $("results").hidden = true;
    $("tab-compare").disabled = true;
    const kb = upload.width * upload.height * 0.25 / 8 / 1000;  // 0.25 bpp as a first guess
    if ($("unit").value === "KB" || $("unit").value === "KiB") $("target").value = kb < 10 ? kb.toFixed(1) : Math.round(kb);
    updateHint();
    setState("ready");
    showView("paint");
    fitPaint();
    drawPaint();
  } catch (err) {
    $("picture-name").textContent = file.name;
    showError(err.message);
  }
}

$("file").addEventListener("change", (e) => openFile(e.target.files[0]));
document.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("dragging"); });
document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
document.addEventListener("drop", (e) => {
  e.preventDefault();
  document.body.classList.remove("dragging");
  if (e.dataTransfer.files.length) openFile(e.dataTransfer.files[0]);
});

// ---- painting the ROI -----------------------------------------------------------------------

const paint = $("paint");
let stroke = null;  // last point of the stroke being drawn

function fitPaint() {  // the picture as large as the area allows (small ones up to 4x), for painting
  if (!state.upload) return;
  const wrap = $("paint-wrap");
  const scale = Math.min((wrap.clientWidth - 2) / state.upload.width, (wrap.clientHeight - 2) / state.upload.height, 4);
  paint.style.width = `${Math.floor(state.upload.width * scale)}px`;
  paint.style.height = `${Math.floor(state.upload.height * scale)}px`;
}

function drawPaint() {
  if (!state.image) return;
  const ctx = paint.getContext("2d");
  ctx.globalAlpha = 1;
  ctx.drawImage(state.image, 0, 0);
  if ($("show-mask").checked) {
    const t = state.tint.getContext("2d");
    t.globalCompositeOperation = "copy";
    t.drawImage(state.mask, 0, 0);
    t.globalCompositeOperation = "source-in";
    t.fillStyle = "rgb(255, 40, 60)";
    t.fillRect(0, 0, state.tint.width, state.tint.height);
    ctx.globalAlpha = 0.5;
    ctx.drawImage(state.tint, 0, 0);
    ctx.globalAlpha = 1;
  }
}

let paintQueued = false;
function queueDrawPaint() {
  if (paintQueued) return;
  paintQueued = true;
  requestAnimationFrame(() => { paintQueued = false; drawPaint(); });
}

function toPicture(e) {
  const r = paint.getBoundingClientRect();
  return {x: (e.clientX - r.left) * paint.width / r.width, y: (e.clientY - r.top) * paint.height / r.height,
          scale: paint.width / r.width};
}

function strokeTo(p) {
  const ctx = state.mask.getContext("2d");
  const erase = document.querySelector("input[name=brush-mode]:checked").value === "erase";
  ctx.globalCompositeOperation = erase ? "destination-out" : "source-over";
  ctx.strokeStyle = "#fff";
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.lineWidth = Number($("brush").value) * p.scale;
  ctx.beginPath();
  ctx.moveTo(stroke.x, stroke.y);
  ctx.lineTo(p.x + 0.01, p.y);
  ctx.stroke();
  stroke = p;
  if (!$("show-mask").checked) $("show-mask").checked = true;
  queueDrawPaint();
}

paint.addEventListener("pointerdown", (e) => {
  if (!state.image || document.body.dataset.state === "running") return;
  paint.setPointerCapture(e.pointerId);
  stroke = toPicture(e);
  strokeTo(stroke);
});
paint.addEventListener("pointermove", (e) => { if (stroke) strokeTo(toPicture(e)); });
for (const type of ["pointerup", "pointercancel"]) paint.addEventListener(type, () => { stroke = null; });

$("brush").addEventListener("input", () => { $("brush-out").textContent = `${$("brush").value} px`; });
$("show-mask").addEventListener("change", drawPaint);
$("clear-roi").addEventListener("click", () => {
  state.mask.getContext("2d").clearRect(0, 0, state.mask.width, state.mask.height);
  $("roi-sources").textContent = "";
  drawPaint();
});

$("auto-roi").addEventListener("click", async () => {
  showError("");
  const button = $("auto-roi");
  button.disabled = true;
  button.textContent = "finding…";
  try {
    const found = await api(`/api/images/${state.upload.id}/auto-roi`, {method: "POST"});
    const im = await loadImage(found.mask);
    const ctx = state.mask.getContext("2d");
    ctx.globalCompositeOperation = "copy";
    ctx.drawImage(im, 0, 0);
    ctx.globalCompositeOperation = "source-over";
    const parts = Object.entries(found.sources).map(([name, r]) => `${name} ${(100 * r.coverage).toFixed(1)} %`);
    $("roi-sources").textContent = parts.length ? `auto: ${parts.join(", ")} of the picture; paint or erase to edit`
                                                : "auto: nothing found";
    $("show-mask").checked = true;
    drawPaint();
  } catch (err) {
    showError(err.message);
  } finally {
    button.textContent = "Auto ROI";
    button.disabled = document.body.dataset.state === "running";
  }
});

// ---- target and compression -----------------------------------------------------------------

function targetBytes() {
  const v = Number($("target").value), u = $("unit").value;
  if (!state.upload || !(v > 0)) return null;
  const px = state.upload.width * state.upload.height;
  return u === "bpp" ? v * px / 8 : v * {KB: 1000, KiB: 1024, bytes: 1}[u];
}

function updateHint() {
  const bytes = targetBytes();
  if (!bytes) { $("target-hint").textContent = ""; return; }
  const px = state.upload.width * state.upload.height;
  $("target-hint").textContent = $("unit").value === "bpp"
    ? `= ${Math.floor(bytes).toLocaleString()} bytes for this picture`
    : `= ${(8 * bytes / px).toFixed(3)} bpp for this picture`;
}
for (const id of ["target", "unit"]) $(id).addEventListener("input", updateHint);
$("strength").addEventListener("input", () => { $("strength-out").textContent = $("strength").value; });

function maskBlob() {
  return new Promise((resolve) => state.mask.toBlob(resolve, "image/png"));
}

$("compress").addEventListener("click", async () => {
  showError("");
  const form = new FormData();
  form.append("image", state.upload.id);
  form.append("target", $("target").value);
  form.append("unit", $("unit").value);
  form.append("strength", $("strength").value);
  form.append("effort", $("effort").value);
  form.append("mask", await maskBlob(), "mask.png");
  setState("running");
  showProgress({stage: "uploading the mask", step: 0, steps: 1, elapsed: 0});
  try {
    const {id} = await api("/api/jobs", {method: "POST", body: form});
    state.job = id;
    await poll(id);
  } catch (err) {
    $("progress").hidden = true;
    showError(err.message);
    setState("ready");
  }
});

function showProgress(s) {
  $("progress").hidden = false;
  const n = s.steps || 1;
  $("stage").textContent = s.state === "done" ? "done" : `${Math.min(s.step + 1, n)}/${n} ${s.stage}…`;
  $("progress-bar").value = s.state === "done" ? 1 : (s.step + 0.5) / n;
  $("elapsed").textContent = `${s.elapsed.toFixed(1)} s` + (s.state === "queued" ? " (waiting for the encoder)" : "");
}

async function poll(id) {
  for (;;) {
    const s = await api(`/api/jobs/${id}`);
    if (id !== state.job) return;
    showProgress(s);
    if (s.state === "error") throw new Error(s.error);
    if (s.state === "done") { await showResult(id, s.result); return; }
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ---- the result -----------------------------------------------------------------------------

const fmt = (x, digits) => (x === null || x === undefined ? "–" : Number.isFinite(x) ? x.toFixed(digits) : "∞");

async function showResult(id, result) {
  const files = `/api/jobs/${id}/files`;
  const pictures = {original: state.image};
  const loads = [];
  for (const row of result.rows) {
    if (row.image) loads.push(loadImage(`${files}/${row.image}`).then((im) => { pictures[row.codec] = im; }));
  }
  state.overlay = null;
  if (result.importance) loads.push(loadImage(`${files}/${result.importance}`).then((im) => { state.overlay = im; }));
  await Promise.all(loads);
  state.pictures = pictures;
  state.result = result;

  const body = $("result-table").querySelector("tbody");
  body.textContent = "";
  const downloads = $("downloads");
  downloads.textContent = "";
  for (const row of result.rows) {
    const tr = document.createElement("tr");
    tr.title = row.detail || row.error || "";
    if (row.error) {
      tr.className = "error";
      tr.innerHTML = `<td class="codec"></td><td colspan="4"></td>`;
      tr.children[1].textContent = row.error;
    } else {
      tr.innerHTML = `<td class="codec"></td><td>${row.bytes.toLocaleString()}</td><td>${fmt(row.bpp, 3)}</td>` +
                     `<td>${fmt(row.psnr, 2)}</td><td>${fmt(row.psnr_roi, 2)}</td>`;
      for (const [file, name] of Object.entries(row.downloads)) {
        const a = document.createElement("a");
        a.href = `${files}/${file}?download=${encodeURIComponent(name)}`;
        a.download = name;
        a.id = `download-${file.replace(".", "-")}`;
        a.textContent = FILE_LABELS[file] || file;
        downloads.append(a);
      }
    }
    tr.children[0].textContent = LABELS[row.codec] || row.codec;
    body.append(tr);
  }
  const notes = $("notes");
  notes.textContent = "";
  for (const text of [`target ${result.target.toLocaleString()} bytes; AVIF and WebP get roicodec's byte count`, ...result.notes]) {
    const li = document.createElement("li");
    li.textContent = text;
    notes.append(li);
  }
  $("results").hidden = false;

  for (const [select, pick] of [[$("left"), "roicodec"], [$("right"), pictures.avif ? "avif" : "original"]]) {
    const keep = select.value;
    select.textContent = "";
    for (const name of ["roicodec", "avif", "webp", "original"]) {
      if (pictures[name]) select.append(new Option(LABELS[name], name));
    }
    select.value = pictures[keep] && state.result && keep ? keep : pick;
  }
  $("overlay").disabled = !state.overlay;
  $("tab-compare").disabled = false;
  setState("done");
  showView("compare");
  fit();
}

// ---- the comparison view: slider or side by side, shared zoom and pan -----------------------

const view = {zoom: 1, cx: 0, cy: 0, split: 0.5};
const canvasA = $("view-a"), canvasB = $("view-b");
const layout = () => document.querySelector("input[name=layout]:checked").value;

function rowOf(codec) { return (state.result?.rows || []).find((r) => r.codec === codec); }

function caption(name) {
  const row = rowOf(name);
  return row && row.bytes ? `${LABELS[name]} ${row.bytes.toLocaleString()} B, ${fmt(row.psnr, 2)} dB` : LABELS[name];
}

function sizeCanvas(c) {
  const w = Math.max(1, c.clientWidth), h = Math.max(1, c.clientHeight);
  if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
}

function drawPicture(ctx, c, im) {
  const ox = c.width / 2 - view.cx * view.zoom, oy = c.height / 2 - view.cy * view.zoom;
  ctx.setTransform(view.zoom, 0, 0, view.zoom, ox, oy);
  ctx.imageSmoothingEnabled = view.zoom < 2;  // from 2x, the codecs' pixels as they are
  ctx.drawImage(im, 0, 0);
  if ($("overlay").checked && state.overlay) {
    ctx.globalAlpha = 0.35;
    ctx.drawImage(state.overlay, 0, 0);
    ctx.globalAlpha = 1;
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
}

function label(ctx, text, x, y, right) {
  ctx.font = "13px system-ui, sans-serif";
  const w = ctx.measureText(text).width + 12;
  const left = right ? x - w : x;
  ctx.fillStyle = "rgba(0, 0, 0, 0.65)";
  ctx.fillRect(left, y, w, 22);
  ctx.fillStyle = "#fff";
  ctx.fillText(text, left + 6, y + 15);
}

function drawCompare() {
  if (!state.result) return;
  const left = $("left").value, right = $("right").value;
  const a = state.pictures[left], b = state.pictures[right];
  const side = layout() === "side";
  $("compare-wrap").classList.toggle("side", side);
  for (const c of side ? [canvasA, canvasB] : [canvasA]) sizeCanvas(c);
  const ctx = canvasA.getContext("2d");
  ctx.clearRect(0, 0, canvasA.width, canvasA.height);
  drawPicture(ctx, canvasA, a);
  if (side) {
    const ctxB = canvasB.getContext("2d");
    ctxB.clearRect(0, 0, canvasB.width, canvasB.height);
    drawPicture(ctxB, canvasB, b);
    label(ctx, caption(left), 8, 8, false);
    label(ctxB, caption(right), 8, 8, false);
  } else {
    const x = Math.round(view.split * canvasA.width);
    ctx.save();
    ctx.beginPath();
    ctx.rect(x, 0, canvasA.width - x, canvasA.height);
    ctx.clip();
    ctx.clearRect(x, 0, canvasA.width - x, canvasA.height);
    drawPicture(ctx, canvasA, b);
    ctx.restore();
    ctx.fillStyle = "#fff";
    ctx.fillRect(x - 1, 0, 2, canvasA.height);
    ctx.beginPath();
    ctx.arc(x, canvasA.height / 2, 10, 0, 2 * Math.PI);
    ctx.fill();
    label(ctx, caption(left), 8, 8, false);
    label(ctx, caption(right), canvasA.width - 8, 8, true);
  }
  $("zoom-label").textContent = `${Math.round(view.zoom * 100)} %`;
}

function fit() {
  if (!state.upload) return;
  const side = layout() === "side";
  $("compare-wrap").classList.toggle("side", side);
  sizeCanvas(canvasA);
  view.zoom = Math.min(canvasA.width / state.upload.width, canvasA.height / state.upload.height);
  view.cx = state.upload.width / 2;
  view.cy = state.upload.height / 2;
  drawCompare();
}

function zoomAt(factor, px, py, c) {
  const z = Math.min(32, Math.max(0.05, view.zoom * factor));
  // keep the picture point under (px, py) where it is
  const ix = view.cx + (px - c.width / 2) / view.zoom, iy = view.cy + (py - c.height / 2) / view.zoom;
  view.zoom = z;
  view.cx = ix - (px - c.width / 2) / z;
  view.cy = iy - (py - c.height / 2) / z;
  drawCompare();
}

let drag = null;
for (const c of [canvasA, canvasB]) {
  c.addEventListener("pointerdown", (e) => {
    c.setPointerCapture(e.pointerId);
    const onDivider = c === canvasA && layout() === "split" && Math.abs(e.offsetX - view.split * c.width) < 14;
    drag = {divider: onDivider, x: e.clientX, y: e.clientY, c};
    if (onDivider) view.split = Math.min(1, Math.max(0, e.offsetX / c.width));
  });
  c.addEventListener("pointermove", (e) => {
    if (!drag) return;
    if (drag.divider) {
      view.split = Math.min(1, Math.max(0, e.offsetX / c.width));
    } else {
      view.cx -= (e.clientX - drag.x) / view.zoom;
      view.cy -= (e.clientY - drag.y) / view.zoom;
      drag.x = e.clientX;
      drag.y = e.clientY;
    }
    drawCompare();
  });
  for (const type of ["pointerup", "pointercancel"]) c.addEventListener(type, () => { drag = null; });
  c.addEventListener("wheel", (e) => {
    e.preventDefault();
    zoomAt(e.deltaY < 0 ? 1.25 : 0.8, e.offsetX, e.offsetY, c);
  }, {passive: false});
}
$("zoom-in").addEventListener("click", () => zoomAt(1.5, canvasA.width / 2, canvasA.height / 2, canvasA));
$("zoom-out").addEventListener("click", () => zoomAt(1 / 1.5, canvasA.width / 2, canvasA.height / 2, canvasA));
$("zoom-1").addEventListener("click", () => zoomAt(1 / view.zoom, canvasA.width / 2, canvasA.height / 2, canvasA));
$("zoom-fit").addEventListener("click", fit);
for (const id of ["left", "right", "overlay"]) $(id).addEventListener("change", drawCompare);
for (const input of document.querySelectorAll("input[name=layout]")) input.addEventListener("change", fit);
window.addEventListener("resize", () => { fitPaint(); if (!$("view-compare").hidden) drawCompare(); });

// ---- tabs -----------------------------------------------------------------------------------

function showView(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === name);
  $("view-paint").hidden = name !== "paint";
  $("view-compare").hidden = name !== "compare";
  if (name === "paint") fitPaint();
  if (name === "compare") requestAnimationFrame(drawCompare);
}
for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showView(tab.dataset.view));

setState("empty");
