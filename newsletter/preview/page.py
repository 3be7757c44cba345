"""The preview page: a static document whose small script follows ``/events``.

On each ``render`` event it fetches ``/state.json`` and reloads both email
frames, so the page updates in place (scroll position of the page kept)
without the author pressing reload. A local author tool, so inline script and
style are fine here.
"""

from __future__ import annotations

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Preview</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #eef0f3; color: #1d2430; }
  header { padding: 10px 16px; background: #1d2430; color: #fff; display: flex; gap: 16px; align-items: baseline; }
  #recipient { font-size: 12px; opacity: .8; }
  header .status { margin-left: auto; font-size: 12px; opacity: .8; }
  #error { display: none; margin: 12px 16px; padding: 10px 12px; background: #fde8e8; border: 1px solid #e0a0a0;
           color: #8a1010; font-family: ui-monospace, monospace; white-space: pre-wrap; }
  #error.shown { display: block; }
  .inbox { margin: 12px 16px; padding: 10px 12px; background: #fff; border-radius: 6px; display: grid;
           grid-template-columns: 220px 1fr; gap: 2px 12px; box-shadow: 0 1px 2px #0002; }
  .inbox .from { font-weight: 600; grid-row: span 2; }
  .inbox .subject { font-weight: 600; }
  .inbox .preheader { color: #5b6472; }
  main { display: flex; gap: 16px; padding: 0 16px 16px; align-items: flex-start; flex-wrap: wrap; }
  figure { margin: 0; }
  figcaption { font-size: 12px; color: #5b6472; margin: 4px 0; }
  iframe { border: 1px solid #c9ced6; background: #fff; height: 80vh; display: block; }
  #frame-600 { width: 600px; }
  #frame-375 { width: 375px; }
  aside { flex: 1; min-width: 280px; display: flex; flex-direction: column; gap: 12px; }
  section { background: #fff; border-radius: 6px; padding: 8px 12px; box-shadow: 0 1px 2px #0002; }
  h2 { font-size: 13px; margin: 4px 0 8px; text-transform: uppercase; letter-spacing: .04em; color: #5b6472; }
  #text { white-space: pre; font-family: ui-monospace, monospace; font-size: 12px; max-height: 50vh; overflow: auto; margin: 0; }
  #checks { list-style: none; padding: 0; margin: 0; }
  #checks li { padding: 4px 0; border-bottom: 1px solid #eee; }
  #checks .error { color: #8a1010; }
  #checks .warning { color: #7a5200; }
  #checks .ok { color: #176b2c; }
</style>
</head>
<body>
<header><strong>Preview</strong> <span id="slug"></span> <span id="recipient"></span><span class="status" id="status">connecting…</span></header>
<div id="error" role="alert"></div>
<div class="inbox" aria-label="Inbox line">
  <span class="from" id="sender"></span>
  <span class="subject" id="subject"></span>
  <span class="preheader" id="preheader"></span>
</div>
<main>
  <figure><figcaption>Desktop, 600 px</figcaption><iframe id="frame-600" title="Email at 600 px"></iframe></figure>
  <figure><figcaption>Phone, 375 px</figcaption><iframe id="frame-375" title="Email at 375 px"></iframe></figure>
  <aside>
    <section><h2>Checks</h2><ul id="checks"></ul></section>
    <section><h2>Plain text</h2><pre id="text"></pre></section>
  </aside>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);

function showChecks(findings) {
  const list = $("checks");
  list.replaceChildren();
  if (findings.length === 0) {
    const item = document.createElement("li");
    item.className = "ok";
    item.textContent = "All checks pass.";
    list.append(item);
  }
  for (const f of findings) {
    const item = document.createElement("li");
    item.className = f.severity;
    const where = f.line ? `line ${f.line}: ` : "";
    item.textContent = `${f.severity}: ${where}${f.message} [${f.code}]`;
    list.append(item);
  }
}

async function refresh() {
  const response = await fetch("/state.json", {cache: "no-store"});
  const state = await response.json();
  $("error").textContent = state.error ? `Could not build the issue: ${state.error}` : "";
  $("error").classList.toggle("shown", Boolean(state.error));
  $("slug").textContent = state.slug;
  $("recipient").textContent = state.recipient ? `as received by ${state.recipient}` : "";
  $("sender").textContent = state.sender;
  $("subject").textContent = state.subject;
  $("preheader").textContent = state.preheader;
  $("text").textContent = state.text;
  showChecks(state.findings);
  for (const id of ["frame-600", "frame-375"]) {
    $(id).src = `/email.html?v=${state.version}`;
  }
  const when = new Date(state.built_at * 1000).toLocaleTimeString();
  $("status").textContent = `version ${state.version}, built ${when}` + (state.error ? " (with an error)" : "");
  document.body.dataset.version = String(state.version);
}

const events = new EventSource("/events");
events.addEventListener("render", () => refresh());
events.onerror = () => { $("status").textContent = "disconnected — is newsletter preview still running?"; };
</script>
</body>
</html>
"""
