// The playground: builds a chat request with a `thinking` object, streams it, and polls the live view.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { controller: null };

function key() {
  return $("key").value.trim() || localStorage.getItem("ponder-key") || "";
}

function headers() {
  const h = { "Content-Type": "application/json" };
  if (key()) h.Authorization = "Bearer " + key();
  return h;
}

// settings -> request

function mode() {
  return document.querySelector("input[name=mode]:checked").value;
}

function thinkingObject() {
  if (mode() === "off") {
    const off = { enabled: false };
    if (+$("pause").value) off.pause = +$("pause").value;
    return off;
  }
  const t = {};
  if (mode() === "budget") {
    t.min_tokens = +$("min").value;
    t.max_tokens = +$("max").value;
    const waits = $("wait").value.split(",").map((s) => s.trim()).filter(Boolean);
    if (waits.length) t.wait = waits;
  }
  if ($("prefix").value.trim()) t.prefix = $("prefix").value.trim();
  if (+$("filler").value) t.filler = +$("filler").value;
  if (+$("pause").value) t.pause = +$("pause").value;
  if (+$("entropy").value) t.entropy_pause = +$("entropy").value;
  return t;
}

function request() {
  return {
    model: "ponder",
    messages: [{ role: "user", content: $("question").value }],
    max_tokens: +$("max-tokens").value,
    temperature: +$("temperature").value,
    stream: true,
    stream_options: { include_usage: true },
    thinking: thinkingObject(),
    user: "playground",
  };
}

// streaming

async function ask(event) {
  event.preventDefault();
  if ($("key").value.trim()) localStorage.setItem("ponder-key", $("key").value.trim());
  const out = { thinking: "", answer: "", chunks: { thinking: 0, answer: 0 }, start: performance.now() };
  $("thinking").textContent = $("answer").textContent = "";
  counters(out, false);
  status("waiting for the model…");
  state.controller = new AbortController();
  $("go").disabled = true;
  $("stop").disabled = false;
  state.request = null;  // the running request's id, read from its first chunk: what "Stop thinking" controls
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(), body: JSON.stringify(request()), signal: state.controller.signal,
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error((body.error && body.error.message) || res.statusText);
    }
    await readEvents(res, (chunk) => onChunk(chunk, out));
  } catch (err) {
    status(err.name === "AbortError" ? "stopped" : "error: " + err.message, err.name !== "AbortError");
  } finally {
    $("go").disabled = false;
    $("stop").disabled = $("stop-thinking").disabled = true;
    state.controller = state.request = null;
    refresh();
  }
}

async function readEvents(res, handle) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const line = buffer.slice(0, cut).trim();
      buffer = buffer.slice(cut + 2);
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]") return;
      handle(JSON.parse(data));
    }
  }
}

function onChunk(chunk, out) {
  if (chunk.error) throw new Error(chunk.error.message);
  if (!state.request && chunk.id) {
    state.request = chunk.id;
    $("stop-thinking").disabled = mode() === "off";
  }
  for (const choice of chunk.choices || []) {
    const d = choice.delta || {};
    if (d.reasoning_content) append("thinking", d.reasoning_content, out);
    if (d.content) {
      append("answer", d.content, out);
      $("stop-thinking").disabled = true;  // the thinking is over
    }
  }
  if (chunk.usage) finish(chunk, out);
  else counters(out, false);
}

function append(phase, text, out) {
  out[phase] += text;
  out.chunks[phase] += 1;
  $(phase).textContent = out[phase];
  if (phase === "answer" && !out.answerAt) out.answerAt = performance.now();
}

function counters(out, exact, usage) {
  const t = exact ? usage.completion_tokens_details.reasoning_tokens : out.chunks.thinking;
  const a = exact ? usage.ponder.answer_tokens : out.chunks.answer;
  $("thinking-count").textContent = (exact ? "" : "~") + t + " tokens";
  $("answer-count").textContent = (exact ? "" : "~") + a + " tokens";
  if (!exact && out.chunks.thinking + out.chunks.answer) {
    const secs = (performance.now() - out.start) / 1000;
    status(`${mode() === "off" ? "answering" : out.answerAt ? "answering" : "thinking"}… ${secs.toFixed(1)} s`);
  }
}

function finish(chunk, out) {
  const u = chunk.usage, p = chunk.ponder;
  counters(out, true, { ...u, ponder: p });
  const secs = (performance.now() - out.start) / 1000;
  const bits = [
    `${u.completion_tokens} completion tokens in ${secs.toFixed(2)} s`,
    `thinking ${p.thinking_tokens} (${p.thinking_injected} injected)`,
    `waits ${p.waits}`, `capped ${p.capped ? "yes" : "no"}`,
    `finish ${p.choices.map((c) => c.finish_reason).join(",")}`,
  ];
  if (p.cost !== undefined) bits.push("cost $" + p.cost.toPrecision(3));
  status(bits.join(" · "));
}

function status(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

// the live view of recent requests

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function row(r) {
  const tr = document.createElement("tr");
  const when = new Date(r.created * 1000).toLocaleTimeString();
  const injected = r.thinking_injected === undefined ? "" : r.thinking_injected + r.answer_injected;
  const secs = r.decode_seconds === undefined ? "" : (r.prefill_seconds + r.decode_seconds).toFixed(2);
  const cost = r.cost === undefined ? "–" : "$" + r.cost.toPrecision(3);
  const cells = [when, `${r.endpoint}${r.stream ? " ⇢" : ""} ${r.preview}`, r.thinking, r.status, r.prompt_tokens ?? "",
    r.thinking_tokens ?? "", injected, r.answer_tokens ?? "", r.waits ?? "", r.capped === undefined ? "" : r.capped ? "yes" : "no",
    secs, cost];
  cells.forEach((c, i) => tr.appendChild(cell(c, i === 3 ? "st-" + r.status : "")));
  tr.title = r.preview;
  return tr;
}

async function refresh() {
  try {
    const res = await fetch("/v1/ponder/requests", { headers: headers() });
    if (!res.ok) return;
    const body = await res.json();
    const rows = body.data.slice(0, 15).map(row);
    const tbody = $("requests");
    tbody.replaceChildren(...(rows.length ? rows : [emptyRow()]));
    $("queue").textContent = `· ${body.running} running, ${body.queued} queued`;
  } catch (err) { /* the next poll tries again */ }
}

function emptyRow() {
  const tr = document.createElement("tr");
  const td = cell("none yet", "empty");
  td.colSpan = 12;
  tr.appendChild(td);
  return tr;
}

// controls

function bindSliders() {
  const show = (id, off) => {
    const v = +$(id).value;
    $(id + "-out").textContent = off && v === 0 ? "off" : String(v);
  };
  const keepOrder = (changed) => { // min never above max
    if (+$("min").value > +$("max").value) {
      if (changed === "min") $("max").value = $("min").value; else $("min").value = $("max").value;
    }
    show("min"); show("max");
  };
  $("min").addEventListener("input", () => keepOrder("min"));
  $("max").addEventListener("input", () => keepOrder("max"));
  for (const [id, off] of [["filler", true], ["pause", true], ["entropy", true], ["max-tokens", false], ["temperature", false]]) {
    $(id).addEventListener("input", () => show(id, off));
    show(id, off);
  }
  const modeChanged = () => {
    for (const id of ["min", "max", "wait"]) $(id).closest("div").classList.toggle("disabled", mode() !== "budget");
    for (const id of ["prefix", "filler", "entropy"]) $(id).closest("div").classList.toggle("disabled", mode() === "off");
  };
  document.querySelectorAll("input[name=mode]").forEach((r) => r.addEventListener("change", modeChanged));
  modeChanged();
}

async function loadInfo() {
  try {
    const res = await fetch("/v1/ponder/info", { headers: headers() });
    if (res.status === 401) { $("model").textContent = "this server wants an API key: enter it below"; return; }
    const info = await res.json();
    $("model").textContent = `${info.model} · max_tokens ≤ ${info.limits.max_tokens}` +
      (info.prices.input !== null || info.prices.output !== null ? ` · $${info.prices.input ?? 0} / $${info.prices.output ?? 0} per M tokens in / out` : "");
    $("max-tokens").max = info.limits.max_tokens;
  } catch (err) { $("model").textContent = "server unreachable"; }
}

$("ask").addEventListener("submit", ask);
$("stop").addEventListener("click", () => state.controller && state.controller.abort());
$("stop-thinking").addEventListener("click", stopThinking);

async function stopThinking() {
  // the running request answers now (POST /v1/ponder/requests/{id}/control); the stream goes on with the answer
  if (!state.request) return;
  $("stop-thinking").disabled = true;
  const res = await fetch(`/v1/ponder/requests/${state.request}/control`, {
    method: "POST", headers: headers(), body: JSON.stringify({ action: "end_thinking" }),
  });
  if (!res.ok && res.status !== 404) status("could not stop the thinking: " + res.statusText, true);
}
$("key").addEventListener("change", () => { localStorage.setItem("ponder-key", $("key").value.trim()); loadInfo(); refresh(); });
bindSliders();
loadInfo();
refresh();
setInterval(refresh, 1000);
