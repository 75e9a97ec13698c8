// revive-ui's page: upload photos one request at a time, poll the batch, show each result as a slider.
"use strict";

const VIEW_LABELS = { result: "Result", restored: "Restored gray", mask: "Damage mask" };
const POLL_MS = 600;
const $ = (selector, root = document) => root.querySelector(selector);

const page = { config: null, batch: null, cards: new Map(), local: 0, uploading: 0, timer: null, polling: false,
  again: false };

async function api(path, options) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let reason = `${response.status} ${response.statusText}`;
    try { reason = (await response.json()).error || reason; } catch (_) { /* not JSON: keep the status line */ }
    throw new Error(reason);
  }
  return response;
}

function describeRoute(config) {
  const what = { restore: "restore", colorize: "colorize", pipeline: "restore and colorize (one model)" };
  const steps = config.route.map((task) => what[task] || task).join(", then ");
  return `Models: ${steps} (${config.models.join(", ")})`;
}

function megabytes(bytes) { return `${(bytes / 1e6).toFixed(0)} MB`; }

async function init() {
  page.config = await (await api("/api/config")).json();
  $("#route").textContent = describeRoute(page.config);
  const limits = [];
  if (page.config.max_upload_bytes) limits.push(`up to ${megabytes(page.config.max_upload_bytes)} per file or zip`);
  if (page.config.max_pixels) limits.push(`up to ${(page.config.max_pixels / 1e6).toFixed(0)} megapixels per photo`);
  limits.push(`results as ${page.config.format.toUpperCase()} at each photo's own size`);
  $("#limits").textContent = limits.join("; ");
  const input = $("#files");
  input.addEventListener("change", () => { addFiles([...input.files]); input.value = ""; });
  // Photos dropped anywhere on the page are taken (the browser would otherwise open the file itself).
  const drop = $("#drop");
  document.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  document.addEventListener("dragleave", (event) => { if (!event.relatedTarget) drop.classList.remove("over"); });
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    addFiles([...event.dataTransfer.files]);
  });
}

function newCard(name) {
  const card = $("#card").content.firstElementChild.cloneNode(true);
  $(".name", card).textContent = name;
  $("#results").append(card);
  const compare = $(".compare", card);
  $(".slider", card).addEventListener("input", (event) => {
    compare.style.setProperty("--pos", `${event.target.value}%`);
  });
  return card;
}

function setStatus(card, status, text) {
  card.dataset.status = status;
  $(".status", card).textContent = text;
}

async function addFiles(files) {
  if (!files.length) return;
  $("#progress").hidden = false;
  try {
    if (!page.batch) page.batch = (await (await api("/api/batches", { method: "POST" })).json()).id;
  } catch (error) {
    for (const file of files) setStatus(newCard(file.name), "failed", error.message);
    return;
  }
  const placeholders = files.map((file) => {
    const card = newCard(file.name);
    setStatus(card, "uploading", "Waiting to upload");
    return card;
  });
  page.uploading += files.length;
  for (const [i, file] of files.entries()) {
    await upload(file, placeholders[i]);
    page.uploading -= 1;
    refresh();
  }
}

async function upload(file, card) {
  const limit = page.config.max_upload_bytes;
  if (limit && file.size > limit) {
    setStatus(card, "failed", `${file.name}: ${megabytes(file.size)} is over the upload limit of ${megabytes(limit)}`);
    page.cards.set(`local-${page.local++}`, card);
    return;
  }
  setStatus(card, "uploading", "Uploading");
  const form = new FormData();
  form.append("image", file, file.name);
  try {
    const response = await api(`/api/batches/${page.batch}/photos`, { method: "POST", body: form });
    const { photos } = await response.json();
    photos.forEach((photo, k) => {
      const target = k === 0 ? card : newCard(photo.name);  // a zip: one card per photo inside
      $(".name", target).textContent = photo.name;
      page.cards.set(photo.index, target);
      show(target, photo);
    });
  } catch (error) {
    setStatus(card, "failed", error.message);
    page.cards.set(`local-${page.local++}`, card);
  }
}

function show(card, photo) {
  if (card.dataset.status === photo.status && photo.status !== "queued") return;
  if (photo.status === "queued") {
    setStatus(card, "queued", photo.ahead ? `Waiting (${photo.ahead} ahead)` : "Next");
  } else if (photo.status === "running") {
    setStatus(card, "running", page.config.route.length > 1 || page.config.route[0] === "pipeline"
      ? "Restoring and colorizing" : page.config.route[0] === "restore" ? "Restoring" : "Colorizing");
  } else if (photo.status === "failed") {
    setStatus(card, "failed", photo.reason);
  } else if (photo.status === "done") {
    finish(card, photo);
  }
}

function finish(card, photo) {
  const base = `/api/batches/${page.batch}/photos/${photo.index}`;
  setStatus(card, "done", `Done in ${photo.seconds.toFixed(1)} s: ${photo.file}`);
  const before = $(".before", card);
  const after = $(".after", card);
  before.src = `${base}/preview/before`;
  after.src = `${base}/preview/result`;
  $(".compare", card).hidden = false;
  const views = $(".views", card);
  const downloads = $(".downloads", card);
  for (const view of photo.views) {
    const link = document.createElement("a");
    link.className = "download";
    link.dataset.view = view;
    link.href = `${base}/download/${view}`;
    link.setAttribute("download", "");
    link.textContent = `Download ${VIEW_LABELS[view].toLowerCase()}`;
    downloads.append(link);
    if (photo.views.length < 2) continue;
    const label = document.createElement("label");
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = `view-${photo.index}`;
    radio.value = view;
    radio.checked = view === "result";
    radio.addEventListener("change", () => {
      after.src = `${base}/preview/${view}`;
      $(".tag-after", card).textContent = view === "result" ? "After" : VIEW_LABELS[view];
    });
    label.append(radio, VIEW_LABELS[view]);
    views.append(label);
  }
  views.hidden = photo.views.length < 2;
  downloads.hidden = false;
}

async function refresh() {
  if (!page.batch) return;
  if (page.polling) { page.again = true; return; }  // one poll at a time; ask for one more after it
  page.polling = true;
  clearTimeout(page.timer);
  let pending = true;
  try {
    pending = update((await (await api(`/api/batches/${page.batch}`)).json()));
  } catch (error) {
    $("#counts").textContent = error.message;
  } finally {
    page.polling = false;
  }
  if (pending || page.again) page.timer = setTimeout(refresh, POLL_MS);
  page.again = false;
}

function update(state) {
  for (const photo of state.photos) {
    const card = page.cards.get(photo.index);
    if (card) show(card, photo);
  }
  const refused = [...page.cards.keys()].filter((key) => typeof key === "string").length;
  const { queued, running, done, failed } = state.counts;
  const total = state.photos.length + refused + page.uploading;
  const left = queued + running + page.uploading;
  $("#bar").max = Math.max(total, 1);
  $("#bar").value = done + failed + refused;
  const parts = [`${done} of ${total} done`];
  if (failed + refused) parts.push(`${failed + refused} failed`);
  if (left) parts.push(`${left} to go`);
  $("#counts").textContent = parts.join(", ");
  const zip = $("#zip");
  zip.hidden = done === 0;
  zip.href = `/api/batches/${page.batch}/zip`;
  return left > 0;
}

init().catch((error) => { $("#route").textContent = `The page could not start: ${error.message}`; });
