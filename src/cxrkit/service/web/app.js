// cxrkit viewer: upload a radiograph to POST /v1/analyze and draw the result. No build step, no dependencies.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { result: null, base: null, heatmaps: {}, masks: {}, ctrLines: {} };

function loadImage(uri) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = reject;
    img.src = uri;
  });
}

function setStatus(text, isError) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", !!isError);
}

function fmt(x) { return x === null || x === undefined ? "n/a" : Number(x).toFixed(3); }

function draw() {
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  if (!state.base) { ctx.clearRect(0, 0, canvas.width, canvas.height); return; }
  canvas.width = state.base.width;
  canvas.height = state.base.height;
  ctx.drawImage(state.base, 0, 0);
  if ($("toggle-masks").checked) {
    for (const img of Object.values(state.masks)) ctx.drawImage(img, 0, 0);
    // the cardiothoracic ratio's two width lines, as measured
    const colors = { thorax_line: "#50e6ff", heart_line: "#ff5050" };
    ctx.lineWidth = Math.max(2, canvas.width / 300);
    for (const [key, line] of Object.entries(state.ctrLines)) {
      const tick = Math.max(4, canvas.height / 60);
      ctx.strokeStyle = colors[key] || "#fff";
      ctx.beginPath();
      ctx.moveTo(line.col_min, line.row);
      ctx.lineTo(line.col_max, line.row);
      for (const c of [line.col_min, line.col_max]) {
        ctx.moveTo(c, line.row - tick);
        ctx.lineTo(c, line.row + tick);
      }
      ctx.stroke();
    }
  }
  const finding = $("heatmap-finding").value;
  if ($("toggle-heatmap").checked && state.heatmaps[finding]) ctx.drawImage(state.heatmaps[finding], 0, 0);
  if ($("toggle-boxes").checked && state.result) {
    ctx.lineWidth = Math.max(2, canvas.width / 256);
    ctx.strokeStyle = "#ffe600";
    ctx.fillStyle = "#ffe600";
    ctx.font = `${Math.max(12, canvas.width / 40)}px sans-serif`;
    for (const f of state.result.findings) {
      for (const b of f.boxes) {
        ctx.strokeRect(b.x_min, b.y_min, b.x_max - b.x_min, b.y_max - b.y_min);
        ctx.fillText(b.id, b.x_min + 4, b.y_min + Math.max(12, canvas.width / 40));
      }
    }
  }
  canvas.dataset.drawn = String(Date.now());
}

function renderTables(doc) {
  const q = doc.quality;
  $("quality").innerHTML = "";
  const p = document.createElement("p");
  p.textContent = q.usable ? "Usable frontal chest radiograph." : "Not analyzed: " + q.reasons.join("; ");
  $("quality").appendChild(p);
  for (const w of q.warnings) {
    const el = document.createElement("p");
    el.className = "evidence";
    el.textContent = "Warning: " + w;
    $("quality").appendChild(el);
  }
  const tbody = $("findings").querySelector("tbody");
  tbody.innerHTML = "";
  for (const f of doc.findings) {
    const tr = document.createElement("tr");
    tr.className = f.positive ? "positive" : "negative";
    tr.dataset.finding = f.name;
    const cells = [f.name, fmt(f.probability), fmt(f.threshold), f.positive ? "positive" : "negative",
                   f.boxes.map((b) => b.id).join(", ") || "-"];
    cells.forEach((c, i) => {
      const td = document.createElement("td");
      td.textContent = c;
      if (i === 1 || i === 2) td.className = "num";
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
  }
  if (!doc.findings.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 5;
    td.textContent = doc.model ? "no findings" : "no classifier ran (see components)";
    tr.appendChild(td);
    tbody.appendChild(tr);
  }
  $("model").textContent = doc.model ? `Model ${doc.model.name} ${doc.model.version}` : "";
  const ctr = doc.measurements.find((m) => m.name === "cardiothoracic_ratio");
  $("ctr").textContent = ctr ? `${fmt(ctr.value)}${ctr.reliable ? "" : " (unreliable: " + ctr.flags.join(", ") + ")"}`
                             : "not measured (no segmenter or image not usable)";
  const comps = $("components");
  comps.innerHTML = "";
  for (const c of doc.components) {
    const li = document.createElement("li");
    li.textContent = `${c.name}: ${c.status}${c.detail ? " (" + c.detail + ")" : ""}`;
    comps.appendChild(li);
  }
  const report = $("report");
  report.innerHTML = "";
  if (doc.report) {
    const ul = document.createElement("ul");
    for (const s of doc.report.sentences) {
      const li = document.createElement("li");
      li.textContent = s.text + " ";
      const ev = document.createElement("span");
      ev.className = "evidence";
      ev.textContent = JSON.stringify(s.evidence);
      li.appendChild(ev);
      ul.appendChild(li);
    }
    report.appendChild(ul);
    const d = document.createElement("p");
    d.className = "disclaimer";
    d.textContent = doc.report.disclaimer;
    report.appendChild(d);
  }
}

async function analyze(file) {
  setStatus(`Analyzing ${file.name} ...`);
  const form = new FormData();
  form.append("file", file, file.name);
  const headers = {};
  const token = $("token").value.trim();
  if (token) headers["Authorization"] = "Bearer " + token;
  let resp;
  try {
    resp = await fetch("/v1/analyze?include=image,heatmaps,masks", { method: "POST", body: form, headers });
  } catch (err) {
    setStatus("Network error: " + err, true);
    return;
  }
  const body = await resp.json().catch(() => ({ detail: resp.statusText }));
  if (!resp.ok) {
    setStatus(`${resp.status}: ${typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)}`, true);
    if (body.result) renderTables(body.result);
    return;
  }
  state.result = body;
  const ov = body.overlays || {};
  state.base = ov.image ? await loadImage(ov.image) : null;
  state.heatmaps = {};
  for (const [k, v] of Object.entries(ov.heatmaps || {})) state.heatmaps[k] = await loadImage(v);
  state.masks = {};
  for (const [k, v] of Object.entries(ov.masks || {})) state.masks[k] = await loadImage(v);
  state.ctrLines = ov.ctr_lines || {};
  const select = $("heatmap-finding");
  select.innerHTML = "";
  for (const k of Object.keys(state.heatmaps)) {
    const opt = document.createElement("option");
    opt.value = opt.textContent = k;
    select.appendChild(opt);
  }
  renderTables(body);
  draw();
  const positives = body.findings.filter((f) => f.positive).length;
  setStatus(`Done: ${body.findings.length} findings assessed, ${positives} positive (${Math.round(body.timings_ms.total)} ms).`);
  document.body.dataset.analyzed = "true";
  similar(file, headers);
}

async function similar(file, headers) {
  // The k nearest indexed prior films; the panel stays hidden when the server has no index (409).
  const panel = $("similar-panel");
  const box = $("similar");
  box.innerHTML = "";
  const form = new FormData();
  form.append("file", file, file.name);
  let resp;
  try {
    resp = await fetch("/v1/similar?k=8&thumbnails=true", { method: "POST", body: form, headers });
  } catch (err) {
    return;
  }
  const body = await resp.json().catch(() => ({ detail: resp.statusText }));
  if (resp.status === 409 && String(body.detail).startsWith("no similar-case index")) { panel.hidden = true; return; }
  panel.hidden = false;
  if (!resp.ok) { $("similar-status").textContent = `${resp.status}: ${body.detail}`; return; }
  $("similar-status").textContent = `${body.returned} nearest of ${body.index_size} indexed films (${body.embedding})`;
  for (const n of body.neighbors) {
    const fig = document.createElement("figure");
    fig.className = "neighbor";
    const img = document.createElement("img");
    img.alt = n.image_id;
    if (n.thumbnail) img.src = n.thumbnail;
    const cap = document.createElement("figcaption");
    cap.textContent = `#${n.rank} ${n.image_id} · distance ${Number(n.distance).toFixed(3)} · ${n.view || "view ?"}` +
      `${n.study_date ? " · " + n.study_date : ""} · ${n.labels.length ? n.labels.join(", ") : "no labels"}`;
    fig.append(img, cap);
    box.appendChild(fig);
  }
  document.body.dataset.similar = String(body.returned);
}

$("file").addEventListener("change", (e) => { if (e.target.files.length) analyze(e.target.files[0]); });
for (const id of ["toggle-heatmap", "toggle-boxes", "toggle-masks", "heatmap-finding"]) $(id).addEventListener("change", draw);
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files.length) analyze(e.dataTransfer.files[0]);
});
$("token").value = sessionStorage.getItem("cxrkit-token") || "";
$("token").addEventListener("change", () => sessionStorage.setItem("cxrkit-token", $("token").value));
