// The page: pick or drop a photo, choose style and strength, POST it to /api/v1/stylize, show both.
"use strict";

const $ = (id) => document.getElementById(id);
let photo = null;
let resultUrl = null;

function showImage(id, url) {
  // an <img> is shown only once it has a picture: no broken-image box or alt text before that
  const img = $(id);
  if (url) {
    img.src = url;
    img.hidden = false;
  } else {
    img.hidden = true;
    img.removeAttribute("src");
  }
  $(id + "-empty").hidden = Boolean(url);
}

function optionLabel(m) {
  // names are unique; the style is added where it differs, so no two entries read the same
  return m.style && m.style !== m.name ? m.name + " (" + m.style + ")" : m.name;
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function loadModels() {
  const select = $("model");
  try {
    const response = await fetch("/api/v1/models");
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || response.statusText);
    select.innerHTML = "";
    const missing = document.createElement("optgroup");
    missing.label = "Not on this server";
    for (const m of body.models) {
      const option = document.createElement("option");
      option.value = m.name;
      option.textContent = optionLabel(m);
      option.disabled = !m.available;
      option.selected = m.name === body.default;
      (m.available ? select : missing).appendChild(option);
    }
    if (missing.children.length) select.appendChild(missing);
    if (select.selectedOptions.length && select.selectedOptions[0].disabled) {
      const usable = [...select.options].find((o) => !o.disabled);
      if (usable) usable.selected = true;  // the default has no weights here: offer one that works
    }
  } catch (err) {
    setStatus("Could not list styles: " + err.message, true);
  }
}

function choose(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) {
    setStatus(file.name + " is not an image", true);
    return;
  }
  photo = file;
  showImage("before", URL.createObjectURL(file));
  showImage("after", null);  // the previous result belongs to another photo
  $("download").hidden = true;
  $("drop-text").textContent = file.name;
  $("go").disabled = false;
  setStatus("Ready.");
}

async function stylize() {
  if (!photo) return;
  const form = new FormData();
  form.append("image", photo, photo.name);
  form.append("model", $("model").value);
  form.append("strength", $("strength").value);
  form.append("face", $("face").checked ? "true" : "false");
  form.append("format", "png");
  $("go").disabled = true;
  setStatus("Stylizing…");
  const started = performance.now();
  try {
    let response;
    for (let attempt = 0; ; attempt++) {
      response = await fetch("/api/v1/stylize", { method: "POST", body: form });
      if (response.status !== 503 || attempt >= 5) break;
      const wait = Number(response.headers.get("Retry-After") || 2);
      setStatus("Server busy, retrying in " + wait + " s…");
      await new Promise((r) => setTimeout(r, wait * 1000));
    }
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail; } catch (_) { /* not JSON */ }
      throw new Error(detail);
    }
    const blob = await response.blob();
    if (resultUrl) URL.revokeObjectURL(resultUrl);
    resultUrl = URL.createObjectURL(blob);
    showImage("after", resultUrl);
    const link = $("download");
    link.href = resultUrl;
    link.download = (photo.name.replace(/\.[^.]+$/, "") || "image") + "-anime.png";
    link.hidden = false;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    setStatus("Done in " + seconds + " s (" + (response.headers.get("X-Image-Size") || "") + ").");
  } catch (err) {
    setStatus("Failed: " + err.message, true);
  } finally {
    $("go").disabled = false;
  }
}

$("file").addEventListener("change", (e) => choose(e.target.files[0]));
$("strength").addEventListener("input", (e) => { $("strength-value").textContent = Number(e.target.value).toFixed(2); });
$("go").addEventListener("click", stylize);
const drop = $("drop");
for (const name of ["dragenter", "dragover"]) {
  drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
}
for (const name of ["dragleave", "drop"]) {
  drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.remove("over"); });
}
drop.addEventListener("drop", (e) => choose(e.dataTransfer.files[0]));
loadModels();
