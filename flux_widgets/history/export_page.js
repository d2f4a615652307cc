// The exported page (gallery_html.py): "copy as code" and "compare". Every text shown here is
// copied from the page itself (textContent, cloned nodes): nothing is parsed as HTML.
(() => {
  "use strict";
  const picked = [];
  const panel = document.getElementById("compare");
  const panes = panel.querySelector(".compare-panes");

  function say(button, text) {
    const was = button.dataset.label || button.textContent;
    button.dataset.label = was;
    button.textContent = text;
    setTimeout(() => { button.textContent = was; }, 1500);
  }

  function copyByHand(text) {
    // Pages opened from a file may have no clipboard API: a selected text area and "copy".
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    let done = false;
    try { done = document.execCommand("copy"); } catch (error) { done = false; }
    area.remove();
    return done;
  }

  function copy(button) {
    const code = button.closest(".card").querySelector("pre.code").textContent;
    const fallback = () => say(button, copyByHand(code) ? "copied" : "select the code below");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(code).then(() => say(button, "copied"), fallback);
    } else {
      fallback();
    }
  }

  function pane(card) {
    const box = document.createElement("div");
    box.className = "pane";
    const full = card.querySelector("a.full");
    const image = document.createElement("img");
    image.src = full ? full.getAttribute("href") : card.querySelector("img.thumb").src;
    image.alt = card.querySelector(".prompt").textContent;
    const prompt = document.createElement("p");
    prompt.className = "prompt";
    prompt.textContent = card.querySelector(".prompt").textContent;
    box.append(image, prompt, card.querySelector("table.recipe").cloneNode(true));
    return box;
  }

  function markDifferences() {
    const tables = panes.querySelectorAll("table.recipe");
    if (tables.length !== 2) return;
    const values = (table) => new Map([...table.rows].map((row) =>
      [row.dataset.key, row.cells[1] ? row.cells[1].textContent : ""]));
    const [a, b] = [values(tables[0]), values(tables[1])];
    for (const table of tables) {
      for (const row of table.rows) {
        row.classList.toggle("differs", a.get(row.dataset.key) !== b.get(row.dataset.key));
      }
    }
  }

  function showCompare() {
    panes.replaceChildren(...picked.map(pane));
    markDifferences();
    panel.hidden = false;
    panel.scrollTop = 0;
  }

  function pick(box) {
    const card = box.closest(".card");
    const at = picked.indexOf(card);
    if (box.checked && at < 0) {
      picked.push(card);
      if (picked.length > 2) {
        const dropped = picked.shift();
        dropped.querySelector("input.pick").checked = false;
        dropped.classList.remove("picked");
      }
    } else if (!box.checked && at >= 0) {
      picked.splice(at, 1);
    }
    card.classList.toggle("picked", box.checked);
    if (picked.length === 2) showCompare();
  }

  document.addEventListener("change", (event) => {
    if (event.target.matches("input.pick")) pick(event.target);
  });
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.copy");
    if (button) copy(button);
    if (event.target.id === "compare-close") panel.hidden = true;
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") panel.hidden = true;
  });
})();
