"""The rating page: one HTML template, its script and its style sheet (served from /app.js, /app.css).

The page never builds HTML from data: names and numbers go in with ``textContent``, and the one
value the server puts in the template (a rater name from ``?rater=``) is HTML-escaped there.
Script and style are separate files so the Content-Security-Policy can forbid inline code.
"""

INDEX_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Real or fake? - gan-eval HYPE</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body data-total="{total}" data-time-mode="{time_mode}">
<main>
  <header>
    <h1>Real or fake?</h1>
    <p class="sub" id="status"></p>
  </header>

  <section id="start">
    <p>You will see <b>{total}</b> images, one at a time. Half are real images from the data set,
    half were made by a generative model. For each image, answer <b>Real</b> or <b>Fake</b>.{mode_note}</p>
    <p>Keys: <kbd>R</kbd> real, <kbd>F</kbd> fake. There is no time limit for answering; go with your first impression.</p>
    <form id="start-form" autocomplete="off">
      <label for="name">Your name</label>
      <input id="name" name="name" maxlength="40" required value="{prefill}" placeholder="e.g. alice">
      <button id="start-btn" type="submit">Start</button>
    </form>
    <p class="hint">Returning? Enter the same name to continue where you stopped.</p>
  </section>

  <section id="rate" hidden>
    <div class="progress"><span>Keys: <kbd>R</kbd> real, <kbd>F</kbd> fake</span><span id="count"></span></div>
    <div class="bar"><div id="bar-fill"></div></div>
    <div id="stage" class="stage"></div>
    <div class="answers">
      <button id="btn-real" type="button" disabled>Real <kbd>R</kbd></button>
      <button id="btn-fake" type="button" disabled>Fake <kbd>F</kbd></button>
    </div>
  </section>

  <section id="done" hidden>
    <p>Thank you, <b id="done-name"></b>. All <span id="done-total"></span> images are rated and your answers are saved.</p>
    <p class="hint">Another rater? Reload this page and enter their name.</p>
  </section>

  <p id="error" class="error" role="alert" hidden></p>
</main>
</body>
</html>
"""

TIME_MODE_NOTE = (
    " Each image is shown only briefly, after a cross in the middle of the frame; "
    "the buttons appear once it is gone."
)

APP_CSS = """
* { box-sizing: border-box; }
body { margin: 0; background: #fafafa; color: #222;
       font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 560px; margin: 0 auto; padding: 24px 16px; }
h1 { font-size: 24px; margin: 0 0 4px; font-weight: 600; }
.sub { margin: 0 0 16px; color: #666; min-height: 1.5em; }
label { display: block; font-weight: 600; margin: 16px 0 4px; }
input { font: inherit; padding: 8px 10px; border: 1px solid #bbb; border-radius: 6px; width: 260px; }
button { font: inherit; padding: 8px 18px; border-radius: 6px; border: 1px solid #888; background: #fff; cursor: pointer; }
button:disabled { opacity: .4; cursor: default; }
#start-btn { margin-left: 6px; background: #222; color: #fff; border-color: #222; }
kbd { font: 12px/1 ui-monospace, monospace; border: 1px solid #aaa; border-bottom-width: 2px;
      border-radius: 4px; padding: 2px 5px; background: #f4f4f4; color: #333; }
.hint { color: #666; font-size: 14px; }
.progress { display: flex; justify-content: space-between; color: #555; font-size: 14px; }
.bar { height: 4px; background: #e4e4e4; border-radius: 2px; margin: 6px 0 14px; }
#bar-fill { height: 100%; width: 0; background: #4a7; border-radius: 2px; }
.stage { width: 384px; height: 384px; max-width: 100%; margin: 0 auto; background: #eee; border: 1px solid #ddd;
         display: flex; align-items: center; justify-content: center; overflow: hidden; }
.stage img, .stage canvas { width: 100%; height: 100%; object-fit: contain; }
.stage img.small { image-rendering: pixelated; }
.fixation { font: 48px/1 sans-serif; color: #333; }
.answers { display: flex; gap: 16px; justify-content: center; margin-top: 18px; }
.answers button { min-width: 150px; padding: 12px 0; font-size: 18px; }
#btn-real:not(:disabled):hover { background: #eef6ee; }
#btn-fake:not(:disabled):hover { background: #f8eeee; }
.error { color: #a00; }
"""

APP_JS = r"""
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const timeMode = document.body.dataset.timeMode === "1";
  const FIXATION_MS = 500;
  let rater = null;        // the name the server accepted
  let current = null;      // {position, image, exposure_ms}
  let shownAt = 0;         // when the answer buttons came up (performance.now)
  let accepting = false;   // answers are taken only while true
  const images = new Map();

  function show(id) {
    for (const s of ["start", "rate", "done"]) $(s).hidden = s !== id;
  }

  function error(msg) {
    $("error").hidden = !msg;
    $("error").textContent = msg || "";
  }

  async function api(path, body) {
    const opts = body === undefined ? {} : {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
    };
    const r = await fetch(path, opts);
    let data = null;
    try { data = await r.json(); } catch (e) { data = {error: r.status + " " + r.statusText}; }
    if (!r.ok) throw new Error(data.error || r.statusText);
    return data;
  }

  function loadImage(k) {
    if (!images.has(k)) {
      const img = new Image();
      img.alt = "image to rate";
      img.src = "/image/" + k;
      images.set(k, img.decode().then(() => img));
    }
    return images.get(k);
  }

  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
  const nextFrame = () => new Promise((res) => requestAnimationFrame(res));

  // Wait on animation frames so the image changes on a screen refresh, not mid-frame.
  async function holdFor(ms) {
    const t0 = performance.now();
    await nextFrame();
    while (performance.now() - t0 < ms - 8) await nextFrame();
  }

  function noiseMask() {
    const c = document.createElement("canvas");
    c.width = c.height = 96;
    const ctx = c.getContext("2d");
    const d = ctx.createImageData(96, 96);
    for (let i = 0; i < d.data.length; i += 4) {
      const v = Math.floor(Math.random() * 256);
      d.data[i] = d.data[i + 1] = d.data[i + 2] = v;
      d.data[i + 3] = 255;
    }
    ctx.putImageData(d, 0, 0);
    return c;
  }

  function setButtons(on) {
    accepting = on;
    $("btn-real").disabled = $("btn-fake").disabled = !on;
  }

  async function render(st) {
    rater = st.rater;
    $("status").textContent = "Rating as " + st.rater;
    $("count").textContent = (st.next ? st.done + 1 : st.done) + " / " + st.total;
    $("bar-fill").style.width = (100 * st.done / st.total).toFixed(1) + "%";
    if (!st.next) {
      current = null;
      $("done-name").textContent = st.rater;
      $("done-total").textContent = st.total;
      show("done");
      return;
    }
    show("rate");
    setButtons(false);
    current = st.next;
    const img = await loadImage(current.image);
    if (st.prefetch !== null) loadImage(st.prefetch);
    img.classList.toggle("small", img.naturalWidth < 128);
    const stage = $("stage");
    if (timeMode && current.exposure_ms) {
      const cross = document.createElement("div");
      cross.className = "fixation";
      cross.textContent = "+";
      stage.replaceChildren(cross);
      await sleep(FIXATION_MS);
      stage.replaceChildren(img);
      await holdFor(current.exposure_ms);
      stage.replaceChildren(noiseMask());
    } else {
      stage.replaceChildren(img);
      await nextFrame();
    }
    shownAt = performance.now();
    setButtons(true);
  }

  async function answer(a) {
    if (!accepting || !current) return;
    setButtons(false);
    const rt = Math.max(0, performance.now() - shownAt);
    try {
      const st = await api("/api/answer", {
        rater: rater, position: current.position, image: current.image, answer: a, response_ms: rt,
      });
      error("");
      await render(st);
    } catch (e) {
      error("Could not save the answer: " + e.message + ". Reload the page to continue.");
    }
  }

  async function start(ev) {
    ev.preventDefault();
    error("");
    const name = $("name").value.trim();
    $("start-btn").disabled = true;
    try {
      await render(await api("/api/state?rater=" + encodeURIComponent(name)));
    } catch (e) {
      error(e.message);
    } finally {
      $("start-btn").disabled = false;
    }
  }

  $("start-form").addEventListener("submit", start);
  $("btn-real").addEventListener("click", () => answer("real"));
  $("btn-fake").addEventListener("click", () => answer("fake"));
  document.addEventListener("keydown", (e) => {
    if ($("rate").hidden || e.repeat || e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key.toLowerCase();
    if (k === "r") answer("real");
    else if (k === "f") answer("fake");
  });
  $("name").focus();
})();
"""
