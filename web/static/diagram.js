// Shows the case's process with bpmn-js (navigated viewer: drag and scroll to move) and marks where the case stands (no inline scripts: CSP).
document.addEventListener("DOMContentLoaded", async () => {
  const box = document.getElementById("diagram");
  if (!box || !window.BpmnJS) return;
  // data-src is the JSON API's GET /api/v1/cases/<case number>/diagram (the signed-in session authenticates it).
  const response = await fetch(box.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) { box.remove(); return; }
  const data = await response.json();
  const viewer = new window.BpmnJS({ container: box });
  try {
    await viewer.importXML(data.xml);
  } catch (err) {
    box.textContent = String(err);
    return;
  }
  const canvas = viewer.get("canvas");
  canvas.zoom("fit-viewport");
  const registry = viewer.get("elementRegistry");
  data.done.forEach((id) => registry.get(id) && canvas.addMarker(id, "done"));
  data.active.forEach((id) => registry.get(id) && canvas.addMarker(id, "current"));
  // A long process fits only as a thin strip: zoom in on where the case stands (drag to pan).
  const here = data.active.map((id) => registry.get(id)).find(Boolean);
  if (here) {
    const width = box.clientWidth / 0.9;
    const height = box.clientHeight / 0.9;
    canvas.viewbox({ x: here.x + here.width / 2 - width / 2, y: here.y + here.height / 2 - height / 2, width, height });
  }
  box.dataset.ready = "true";
});
