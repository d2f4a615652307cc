// Keyboard shortcuts of one studio (anywidget ES module, shipped in the package).
//
// Ctrl+Enter (Cmd+Enter on a Mac) in the studio's prompt generates. The prompt is a standard
// ipywidgets Textarea that syncs only when it loses focus, so the text travels with the event.
// The listener sits on window in the capture phase: it sees the key before JupyterLab's own
// shortcuts (Ctrl+Enter runs the cell there), and only acts inside an element carrying this
// studio's own class, so two studios on a page never trigger each other. Two views of one
// studio may both send the same "typing" text: the estimate it refreshes is the same.

// Quiet time after the last key before the typed text is sent for the estimate.
const TYPING_MS = 250;

function render({ model, el }) {
  el.classList.add("flux-shortcuts");
  const onKey = (event) => {
    if (event.defaultPrevented || event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) {
      return;
    }
    const scope = model.get("scope");
    const target = event.target;
    if (!scope || !(target instanceof HTMLTextAreaElement) || !target.closest("." + scope)) {
      return;
    }
    // A second view of the same studio sees defaultPrevented and stays quiet.
    event.preventDefault();
    event.stopPropagation();
    model.send({ event: "generate", prompt: target.value });
  };
  // While typing, the text (debounced) so the count and cost line follows the words before
  // the box syncs: a template's count is shown before Ctrl+Enter can send it.
  let timer = null;
  const onInput = (event) => {
    const scope = model.get("scope");
    const target = event.target;
    if (!scope || !(target instanceof HTMLTextAreaElement) || !target.closest("." + scope)) {
      return;
    }
    clearTimeout(timer);
    timer = setTimeout(() => model.send({ event: "typing", prompt: target.value }), TYPING_MS);
  };
  window.addEventListener("keydown", onKey, true);
  window.addEventListener("input", onInput, true);
  return () => {
    clearTimeout(timer);
    window.removeEventListener("keydown", onKey, true);
    window.removeEventListener("input", onInput, true);
  };
}

export default { render };
