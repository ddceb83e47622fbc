// Two read-only viewers of the same BPMN file, old and new, with added/removed/changed/moved elements marked (CSP: no inline scripts).
document.addEventListener("DOMContentLoaded", () => {
  if (!window.BpmnJS) return;
  const cache = {};
  document.querySelectorAll(".diff-view").forEach(async (box) => {
    const src = box.dataset.src;
    cache[src] = cache[src] || fetch(src, { credentials: "same-origin" }).then((r) => r.json());
    const data = await cache[src];
    const viewer = new window.BpmnJS({ container: box });
    const side = box.dataset.side;
    await viewer.importXML(side === "old" ? data.old : data.new);
    const canvas = viewer.get("canvas");
    canvas.zoom("fit-viewport");
    const registry = viewer.get("elementRegistry");
    const mark = (ids, css) => ids.forEach((id) => registry.get(id) && canvas.addMarker(id, css));
    if (side === "old") mark(data.removed, "diff-removed"); else mark(data.added, "diff-added");
    mark(data.changed, "diff-changed");
    mark(data.moved, "diff-moved");
    box.dataset.ready = "true";
  });
});
