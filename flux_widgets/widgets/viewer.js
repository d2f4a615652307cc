// The flux-widgets viewer (anywidget ES module, shipped in the package; no build step).
//
// One image at full size with its recipe, or two compared (slider or side by side) with the
// recipe rows that differ highlighted. Keys: left/right move, Esc closes. In a top-level page
// (JupyterLab, Notebook 7, Voila) it is a modal over the page, so it opens where the user is
// looking; inside an iframe (VS Code, Colab), where "fixed" means the iframe's own box, it opens
// in place and scrolls into view. Everything the kernel must do goes through model.send.
// When comparing, the actions name the image they act on (B, the one the arrows move); side by
// side, they stay in view under the two images.

const TEMPLATE = `
  <div class="flux-viewer-panel" role="document">
    <div class="flux-viewer-bar">
      <span class="flux-viewer-title"></span>
      <span class="flux-viewer-views" role="group" aria-label="compare view">
        <button type="button" data-view="slider">slider</button>
        <button type="button" data-view="side-by-side">side by side</button>
      </span>
      <span class="flux-viewer-nav">
        <button type="button" class="flux-viewer-prev" title="newer image (←)" aria-label="newer image">‹</button>
        <button type="button" class="flux-viewer-next" title="older image (→)" aria-label="older image">›</button>
        <button type="button" class="flux-viewer-compare" title="pin this image and compare it with another"></button>
        <button type="button" class="flux-viewer-close" title="close (Esc)" aria-label="close">✕</button>
      </span>
    </div>
    <div class="flux-viewer-body">
      <div class="flux-viewer-stage"></div>
      <div class="flux-viewer-side">
        <table class="flux-viewer-recipe"></table>
        <div class="flux-viewer-actions">
          <button type="button" class="flux-viewer-reuse" data-action="reuse" title="put this image's parameters back into the controls (closes the viewer)">reuse</button>
          <button type="button" class="flux-viewer-copy" data-action="copy" title="copy Python that makes this image again">copy as code</button>
          <button type="button" class="flux-viewer-download" data-action="download" title="download the file, recipe embedded">download</button>
        </div>
        <div class="flux-viewer-save">
          <label>save to folder <input type="text" class="flux-viewer-folder" spellcheck="false"></label>
          <button type="button" class="flux-viewer-save-button" data-action="save">save</button>
        </div>
        <div class="flux-viewer-message" role="status" aria-live="polite"></div>
        <textarea class="flux-viewer-code" readonly hidden rows="9" aria-label="code"></textarea>
      </div>
    </div>
  </div>`;

function inIframe() {
  try {
    return window.self !== window.top;
  } catch {
    return true; // a cross-origin parent: certainly an iframe
  }
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// An object URL for a binary trait (a DataView in ipywidgets 8, an ArrayBuffer in 7).
function objectUrl(value, mime) {
  if (!value || value.byteLength === 0) return "";
  return URL.createObjectURL(new Blob([value], { type: mime || "application/octet-stream" }));
}

// What each action button says: its word, and in compare the image it acts on.
const ACTIONS = {
  reuse: (which) => (which ? `reuse ${which}` : "reuse"),
  copy: (which) => (which ? `copy ${which} as code` : "copy as code"),
  download: (which) => (which ? `download ${which}` : "download"),
  save: (which) => (which ? `save ${which}` : "save"),
};

function render({ model, el }) {
  let modal = false; // decided at each opening, from the "placement" trait
  const root = element("div", "flux-viewer");
  root.tabIndex = -1;
  root.hidden = true;
  root.setAttribute("role", "dialog");
  root.setAttribute("aria-label", "image viewer");
  // Lumino (JupyterLab) skips its shortcuts for keys typed inside such an element.
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  root.dataset.instance = model.get("instance");
  root.innerHTML = TEMPLATE;
  el.appendChild(root);
  const $ = (selector) => root.querySelector(selector);
  const stage = $(".flux-viewer-stage");
  const folder = $(".flux-viewer-folder");
  const status = $(".flux-viewer-message");
  const codeBox = $(".flux-viewer-code");
  const urls = { a: "", b: "" };
  let wasOpen = false;
  let returnFocus = null;
  let pendingDownload = "";
  let split = 50; // the slider's position, percent from the left

  function send(content) {
    model.send(content);
  }

  function say(text, kind) {
    status.textContent = text;
    status.classList.toggle("flux-viewer-error", kind === "error");
  }

  function refreshUrl(slot) {
    if (urls[slot]) URL.revokeObjectURL(urls[slot]);
    urls[slot] = objectUrl(model.get("image_" + slot), model.get("mime_" + slot));
  }

  function picture(slot, className) {
    const img = element("img", className);
    img.src = urls[slot];
    img.alt = slot === "a" ? "image A" : "image B";
    img.decoding = "async";
    return img;
  }

  function drawStage() {
    stage.replaceChildren();
    const compare = model.get("mode") === "compare";
    const view = model.get("compare_view");
    root.classList.toggle("flux-viewer--compare", compare);
    root.classList.toggle("flux-viewer--side-by-side", compare && view === "side-by-side");
    for (const button of root.querySelectorAll("[data-view]")) {
      button.classList.toggle("flux-viewer-active", button.dataset.view === view);
      button.setAttribute("aria-pressed", String(button.dataset.view === view));
    }
    if (!compare) {
      stage.appendChild(picture("a", "flux-viewer-image"));
      return;
    }
    if (view === "side-by-side") {
      for (const slot of ["a", "b"]) {
        const figure = element("figure", "flux-viewer-figure");
        figure.appendChild(picture(slot, "flux-viewer-image flux-viewer-image-" + slot));
        figure.appendChild(element("figcaption", "", slot.toUpperCase()));
        stage.appendChild(figure);
      }
      return;
    }
    // The slider: B over A, B clipped left of the split, a range input to move it.
    const frame = element("div", "flux-slider");
    const under = picture("a", "flux-viewer-image flux-viewer-image-a");
    const over = picture("b", "flux-viewer-image flux-viewer-image-b flux-slider-top");
    const line = element("div", "flux-slider-line");
    const range = element("input", "flux-slider-range");
    range.type = "range";
    range.min = "0";
    range.max = "100";
    range.step = "0.5";
    range.value = String(split);
    range.setAttribute("aria-label", "compare slider: A on the left, B on the right");
    const place = (percent) => {
      split = Math.min(100, Math.max(0, percent));
      over.style.clipPath = `inset(0 0 0 ${split}%)`;
      line.style.left = `${split}%`;
      range.value = String(split);
    };
    range.addEventListener("input", () => place(Number(range.value)));
    frame.addEventListener("pointermove", (event) => {
      if (event.buttons !== 1 || event.target === range) return;
      const box = frame.getBoundingClientRect();
      place(((event.clientX - box.left) / box.width) * 100);
    });
    frame.append(under, over, line, element("span", "flux-slider-label flux-slider-label-a", "A"),
      element("span", "flux-slider-label flux-slider-label-b", "B"), range);
    place(split);
    stage.appendChild(frame);
  }

  function drawRecipe() {
    const table = $(".flux-viewer-recipe");
    table.replaceChildren();
    const compare = model.get("mode") === "compare";
    if (compare) {
      const head = element("tr");
      head.append(element("th", "", ""), element("th", "", "A"), element("th", "", "B"));
      table.appendChild(head);
    }
    for (const row of model.get("rows") || []) {
      const tr = element("tr", row.differs ? "flux-differs" : "");
      tr.dataset.key = row.key;
      tr.appendChild(element("th", "", row.label));
      tr.appendChild(element("td", row.key === "prompt" ? "flux-viewer-prompt" : "", row.a));
      if (compare) tr.appendChild(element("td", row.key === "prompt" ? "flux-viewer-prompt" : "", row.b));
      if (row.differs) tr.title = "differs";
      table.appendChild(tr);
    }
  }

  function drawBar() {
    $(".flux-viewer-title").textContent = model.get("title");
    $(".flux-viewer-prev").disabled = !model.get("has_previous");
    $(".flux-viewer-next").disabled = !model.get("has_next");
    const compare = model.get("mode") === "compare";
    $(".flux-viewer-compare").textContent = compare ? "single" : "compare";
    $(".flux-viewer-views").hidden = !compare;
    const which = model.get("acts_on");
    for (const button of root.querySelectorAll("[data-action]")) {
      button.textContent = ACTIONS[button.dataset.action](which);
    }
    if (document.activeElement !== folder) folder.value = model.get("save_dir");
  }

  function drawMessage() {
    say(model.get("message"), model.get("message_kind"));
  }

  function open() {
    const isOpen = model.get("is_open");
    if (isOpen && !wasOpen) place();
    // The same viewer shown twice (two views of one studio): one modal, not two stacked.
    const twin = modal && isOpen && [...document.querySelectorAll(".flux-viewer--modal")].some(
      (other) => other !== root && !other.hidden && other.dataset.instance === root.dataset.instance);
    root.hidden = !isOpen || twin;
    if (isOpen && !wasOpen && !twin) {
      returnFocus = document.activeElement;
      codeBox.hidden = true;
      if (modal) document.body.classList.add("flux-viewer-open");
      // Headless Chromium was seen to paint the panel but not the backdrop until the next
      // style read: read one now.
      void root.offsetWidth;
      root.focus({ preventScroll: true });
      if (!modal) root.scrollIntoView({ block: "start" });
    } else if (!isOpen && wasOpen) {
      if (modal) document.body.classList.remove("flux-viewer-open");
      // Back where the user was: the tile's button that opened the viewer.
      if (returnFocus && returnFocus.isConnected) returnFocus.focus({ preventScroll: !modal });
      returnFocus = null;
    }
    wasOpen = isOpen;
  }

  // A modal under <body> where "fixed" means the user's screen; in place (in the widget's
  // own element) inside an iframe, where it would mean the iframe's box.
  function place() {
    const placement = model.get("placement");
    modal = placement === "modal" || (placement === "auto" && !inIframe());
    root.classList.toggle("flux-viewer--modal", modal);
    root.classList.toggle("flux-viewer--inline", !modal);
    root.setAttribute("aria-modal", String(modal));
    const parent = modal ? document.body : el;
    if (root.parentElement !== parent) parent.appendChild(root);
  }

  function close() {
    // Hide at once (the kernel's answer empties the images and confirms).
    root.hidden = true;
    send({ event: "close" });
  }

  async function copyCode() {
    const code = model.get("code");
    try {
      if (!navigator.clipboard || !navigator.clipboard.writeText) {
        throw new Error("no clipboard API here");
      }
      await navigator.clipboard.writeText(code);
      codeBox.hidden = true;
      say("copied to the clipboard: paste it into a cell");
    } catch (error) {
      // Refused (an http origin, Voila, a sandboxed iframe): show the code, selected.
      codeBox.value = code;
      codeBox.hidden = false;
      codeBox.focus();
      codeBox.select();
      say("the browser refused the clipboard here: the code below is selected, press Ctrl+C (⌘C on a Mac)");
    }
  }

  function download(content, buffers) {
    if (content.request !== pendingDownload || !buffers || !buffers.length) return;
    pendingDownload = "";
    const url = URL.createObjectURL(new Blob([buffers[0]], { type: content.mime }));
    const link = element("a");
    link.href = url;
    link.download = content.name;
    link.style.display = "none";
    root.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  function onKey(event) {
    const target = event.target;
    const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement;
    if (event.key === "Escape") {
      close();
    } else if ((event.key === "ArrowLeft" || event.key === "ArrowRight") && !typing) {
      send({ event: "move", step: event.key === "ArrowLeft" ? -1 : 1 });
    } else if (event.key === "Enter" && target === folder) {
      send({ event: "save", folder: folder.value });
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }

  root.addEventListener("keydown", onKey);
  // Esc closes the modal wherever the focus went (a click on the page under it, a widget
  // that took the focus): the viewer covers the page, so the key is its own.
  function onPageKey(event) {
    if (event.key !== "Escape" || root.hidden || !modal || root.contains(event.target)) return;
    event.preventDefault();
    event.stopPropagation();
    close();
  }
  document.addEventListener("keydown", onPageKey, true);
  // The modal's backdrop (outside the panel) closes it, as in every lightbox.
  root.addEventListener("click", (event) => {
    if (modal && event.target === root) close();
  });
  $(".flux-viewer-close").addEventListener("click", close);
  $(".flux-viewer-prev").addEventListener("click", () => send({ event: "move", step: -1 }));
  $(".flux-viewer-next").addEventListener("click", () => send({ event: "move", step: 1 }));
  $(".flux-viewer-compare").addEventListener("click", () => send({ event: "compare" }));
  $(".flux-viewer-reuse").addEventListener("click", () => {
    // The kernel closes the viewer and focuses the prompt: the focus stays there.
    returnFocus = null;
    send({ event: "reuse" });
  });
  $(".flux-viewer-copy").addEventListener("click", copyCode);
  $(".flux-viewer-save-button").addEventListener("click", () =>
    send({ event: "save", folder: folder.value }));
  $(".flux-viewer-download").addEventListener("click", () => {
    pendingDownload = Math.random().toString(36).slice(2);
    send({ event: "download", request: pendingDownload });
  });
  for (const button of root.querySelectorAll("[data-view]")) {
    button.addEventListener("click", () => send({ event: "compare_view", view: button.dataset.view }));
  }

  // A kernel update changes several traits at once (one message, one change event each):
  // note what changed and redraw each part once, after the whole update.
  const dirty = new Set();
  function schedule(...parts) {
    if (dirty.size === 0) queueMicrotask(redraw);
    for (const part of parts) dirty.add(part);
  }
  function redraw() {
    if (dirty.has("a")) refreshUrl("a");
    if (dirty.has("b")) refreshUrl("b");
    if (dirty.has("a") || dirty.has("b") || dirty.has("stage")) drawStage();
    if (dirty.has("recipe")) drawRecipe();
    if (dirty.has("bar")) drawBar();
    if (dirty.has("message")) drawMessage();
    if (dirty.has("code")) codeBox.hidden = true; // another image: its code is not shown yet
    if (dirty.has("open")) open();
    dirty.clear();
  }
  const onCustom = (content, buffers) => {
    if (content && content.event === "download") download(content, buffers);
  };
  const subscriptions = [
    ["change:image_a change:mime_a", () => schedule("a")],
    ["change:image_b change:mime_b", () => schedule("b")],
    ["change:mode change:compare_view", () => schedule("stage", "recipe", "bar")],
    ["change:rows", () => schedule("recipe")],
    ["change:title change:has_previous change:has_next change:save_dir change:acts_on",
      () => schedule("bar")],
    ["change:message change:message_kind", () => schedule("message")],
    ["change:code", () => schedule("code")],
    ["change:is_open", () => schedule("open")],
    ["msg:custom", onCustom],
  ];
  for (const [events, handler] of subscriptions) {
    for (const name of events.split(" ")) model.on(name, handler);
  }
  schedule("a", "b", "recipe", "bar", "message", "open");
  redraw();

  return () => {
    for (const [events, handler] of subscriptions) {
      for (const name of events.split(" ")) model.off(name, handler);
    }
    document.removeEventListener("keydown", onPageKey, true);
    if (modal) document.body.classList.remove("flux-viewer-open");
    for (const slot of ["a", "b"]) if (urls[slot]) URL.revokeObjectURL(urls[slot]);
    root.remove();
  };
}

export default { render };
