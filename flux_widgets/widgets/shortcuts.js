// Keyboard shortcuts of one studio (anywidget ES module, shipped in the package).
//
// Ctrl+Enter (Cmd+Enter on a Mac) in the studio's prompt generates. The prompt is a standard
// ipywidgets Textarea that syncs only when it loses focus, so the text travels with the event.
// The listener sits on window in the capture phase: it sees the key before JupyterLab's own
// shortcuts (Ctrl+Enter runs the cell there), and only acts inside an element carrying this
// studio's own class, so two studios on a page never trigger each other.

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
  window.addEventListener("keydown", onKey, true);
  return () => window.removeEventListener("keydown", onKey, true);
}

export default { render };
