// The workspace's issue editor: toolbar, live preview, findings that move the cursor, autosave, images.
//
// Loaded as a file (the /admin CSP allows no inline script) by the Edit page;
// the page works without it (a plain form saves and shows the preview).
// Addresses and words come from the page's data attributes, so this file
// holds no language of its own. No build step, no dependencies.

const PREVIEW_DELAY_MS = 300;
const AUTOSAVE_EVERY_MS = 20000;

const page = document.getElementById("editor-page");
if (page) {
  start(page);
}

function start(page) {
  const form = document.getElementById("editor-form");
  const text = document.getElementById("text");
  const csrf = form.elements.namedItem("csrf_token").value;
  const version = form.elements.namedItem("version");
  const draftInputs = () => document.querySelectorAll('input[name="draft"]');
  const status = document.getElementById("autosave-status");
  const findings = document.getElementById("findings");
  const frames = document.querySelectorAll("iframe.email-frame");
  const plain = document.getElementById("plain-text");
  const previewState = document.getElementById("preview-state");
  const words = page.dataset;

  let dirty = false; // typed since the last autosave
  let previewTimer = 0;
  let sent = 0; // preview requests sent …
  let shown = 0; // … and the newest one shown (answers may arrive out of order)

  function say(message, isError = false) {
    status.textContent = message;
    status.classList.toggle("error-text", isError);
  }

  function changed() {
    dirty = true;
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, PREVIEW_DELAY_MS);
  }
  text.addEventListener("input", changed);

  // --- the toolbar -------------------------------------------------------------------------------

  // Insert `block` at the cursor as a block of its own (blank lines around it), keeping undo working.
  function insertBlock(block, select) {
    const from = text.selectionStart;
    const to = text.selectionEnd;
    const before = text.value.slice(0, from);
    const after = text.value.slice(to);
    const lead = before === "" || before.endsWith("\n\n") ? "" : before.endsWith("\n") ? "\n" : "\n\n";
    const tail = after === "" || after.startsWith("\n") ? "" : "\n";
    const inserted = lead + block + tail;
    text.focus();
    text.setSelectionRange(from, to);
    if (!document.execCommand("insertText", false, inserted)) {
      text.setRangeText(inserted, from, to, "end");
      changed();
    }
    if (select) {
      const at = text.value.indexOf(select, from + lead.length);
      if (at >= 0) {
        text.setSelectionRange(at, at + select.length);
      }
    }
  }

  const toolbar = page.querySelector(".toolbar");
  toolbar.hidden = false;
  toolbar.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) {
      return;
    }
    if (button.hasAttribute("data-image-dialog")) {
      openImageDialog(null);
    } else {
      insertBlock(button.dataset.snippet, button.dataset.select);
    }
  });

  // --- the live preview --------------------------------------------------------------------------

  async function refreshPreview() {
    const mine = ++sent;
    let answer;
    try {
      const response = await fetch(words.previewUrl, {
        method: "POST",
        body: new URLSearchParams({ csrf_token: csrf, text: text.value }),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) {
        return;
      }
      answer = await response.json();
    } catch {
      return; // the next keystroke tries again
    }
    if (mine < shown) {
      return;
    }
    shown = mine;
    findings.innerHTML = answer.findings; // rendered by the server's template, escaped there
    if (answer.document) {
      for (const frame of frames) {
        if (frame.getAttribute("src") !== answer.document) {
          frame.setAttribute("src", answer.document);
        }
      }
      plain.textContent = answer.text;
      document.getElementById("inbox-subject").textContent = answer.subject;
      document.getElementById("inbox-preheader").textContent = answer.preheader;
      previewState.hidden = true;
    } else {
      previewState.textContent = words.wordStale;
      previewState.hidden = false;
    }
    page.dataset.previewed = String(mine);
  }

  // --- findings move the cursor to their line ----------------------------------------------------

  // Where the line starting at `offset` is drawn inside the textarea (wrapped lines included).
  function caretTop(offset) {
    const style = getComputedStyle(text);
    const mirror = document.createElement("div");
    for (const name of [
      "boxSizing", "width", "paddingTop", "paddingRight", "paddingBottom", "paddingLeft",
      "borderTopWidth", "borderRightWidth", "borderBottomWidth", "borderLeftWidth",
      "fontFamily", "fontSize", "fontWeight", "lineHeight", "letterSpacing", "wordSpacing", "tabSize",
    ]) {
      mirror.style[name] = style[name];
    }
    mirror.style.position = "absolute";
    mirror.style.visibility = "hidden";
    mirror.style.whiteSpace = "pre-wrap";
    mirror.style.overflowWrap = "break-word";
    mirror.textContent = text.value.slice(0, offset);
    const marker = document.createElement("span");
    marker.textContent = "\u200b";
    mirror.append(marker);
    document.body.append(mirror);
    const top = marker.offsetTop;
    mirror.remove();
    return top;
  }

  function goToLine(line) {
    const lines = text.value.split("\n");
    let offset = 0;
    for (let number = 1; number < line && number <= lines.length; number++) {
      offset += lines[number - 1].length + 1;
    }
    offset = Math.min(offset, text.value.length);
    text.focus();
    text.setSelectionRange(offset, offset);
    text.scrollTop = Math.max(0, caretTop(offset) - text.clientHeight / 3);
  }

  findings.addEventListener("click", (event) => {
    const link = event.target.closest("[data-line]");
    if (link) {
      event.preventDefault();
      goToLine(Number(link.dataset.line));
    }
  });

  // --- autosave ----------------------------------------------------------------------------------

  let saving = false;
  let stopped = false; // after a conflict: the person decides, by saving
  async function autosave() {
    if (!dirty || saving || stopped) {
      return;
    }
    saving = true;
    dirty = false;
    const draft = draftInputs()[0].value;
    try {
      const response = await fetch(words.autosaveUrl, {
        method: "POST",
        body: new URLSearchParams({ csrf_token: csrf, text: text.value, version: version.value, draft }),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (response.status === 409) {
        stopped = true;
        say(words.wordConflict, true);
        return;
      }
      if (!response.ok) {
        throw new Error(String(response.status));
      }
      const answer = await response.json();
      version.value = answer.version;
      for (const input of draftInputs()) {
        input.value = answer.draft;
      }
      if (answer.outcome === "draft") {
        const time = new Date().toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit" });
        say(words.wordAutosaved.replace("{time}", time));
      }
    } catch {
      dirty = true;
      say(words.wordFailed, true);
    } finally {
      saving = false;
    }
  }
  setInterval(autosave, AUTOSAVE_EVERY_MS);
  form.addEventListener("submit", () => {
    stopped = true; // the form saves; no autosave may race it
  });

  // --- images: a dialog with the upload form, opened by the toolbar or by dropping a file ---------

  const upload = document.getElementById("image-upload");
  if (!upload) {
    return;
  }
  const imageForm = document.getElementById("image-form");
  const imageInput = document.getElementById("image");
  const altInput = document.getElementById("alt");
  const imageError = document.getElementById("image-error");
  const dialog = document.createElement("dialog");
  dialog.className = "image-dialog";
  dialog.setAttribute("aria-labelledby", "image-heading");
  page.append(dialog);
  dialog.append(upload);
  for (const hidden of upload.querySelectorAll("[data-close-dialog], .drop-hint")) {
    hidden.hidden = false;
  }
  upload.querySelector("[data-close-dialog]").addEventListener("click", () => dialog.close());
  let caret = 0;

  function openImageDialog(files) {
    caret = text.selectionStart;
    imageError.hidden = true;
    if (files) {
      imageInput.files = files;
    }
    dialog.showModal();
    (files ? altInput : imageInput).focus();
  }

  imageForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    let answer;
    let ok = false;
    try {
      const response = await fetch(imageForm.action, {
        method: "POST",
        body: new FormData(imageForm),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      ok = response.ok;
      answer = await response.json();
    } catch {
      answer = { error: words.wordFailed };
    }
    if (!ok) {
      imageError.textContent = answer.error || words.wordFailed;
      imageError.hidden = false;
      return;
    }
    dialog.close();
    imageForm.reset();
    text.focus();
    text.setSelectionRange(caret, caret);
    insertBlock(answer.markdown + "\n", null);
    say(answer.message);
  });

  const carriesFiles = (event) => Array.from(event.dataTransfer?.types || []).includes("Files");
  text.addEventListener("dragover", (event) => {
    if (carriesFiles(event)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    }
  });
  text.addEventListener("drop", (event) => {
    if (carriesFiles(event) && event.dataTransfer.files.length) {
      event.preventDefault();
      openImageDialog(event.dataTransfer.files);
    }
  });
}
