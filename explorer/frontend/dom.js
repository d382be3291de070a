// Page helpers for the components that draw in their panel: making elements, and saying visibly that
// a message cannot be used.

export function el(tag, attrs = {}, parent = null) {
  const e = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => (k === "text" ? (e.textContent = v) : e.setAttribute(k, v)));
  if (parent) parent.appendChild(e);
  return e;
}

// a component that cannot run what it was sent says so: in the console and in a line in its panel
export function refuse(parentElement, cls, testid, message) {
  console.error(message);
  el("div", { class: `${cls} error`, "data-testid": testid, text: message }, parentElement);
}
