// The process/rule editor: bpmn-js or dmn-js modeler, "check and save" to the engine, problems marked on
// the elements, and a small properties panel for the Tepat settings of BPMN elements (no inline scripts: CSP).
(() => {
  const SPIFF = "spiffworkflow";
  let modeler = null;
  let kind = "bpmn";
  let dirty = false;
  let marked = [];
  let imported = false;

  const box = () => document.getElementById("canvas");
  const csrf = () => {
    const holder = document.body.getAttribute("hx-headers");
    try { return JSON.parse(holder)["X-CSRFToken"]; } catch (err) { return ""; }
  };

  function showStatus(text, tone) {
    const status = document.getElementById("status");
    status.className = `alert alert-${tone}`;
    status.textContent = text;
  }

  function listProblems(problems) {
    const list = document.getElementById("problems");
    list.replaceChildren();
    if (!problems.length) {
      const li = document.createElement("li");
      li.className = "text-success list-unstyled";
      li.textContent = list.dataset.none;
      list.append(li);
    }
    problems.forEach((p) => {
      const li = document.createElement("li");
      li.dataset.element = p.element_id || "";
      const where = p.element ? `${p.element}: ` : (p.file ? `${p.file}: ` : "");
      li.textContent = where + (p.text || p.message);
      if (p.element_id && kind === "bpmn") {
        li.tabIndex = 0;
        li.className = "problem-link";
        const focus = () => select(p.element_id);
        li.addEventListener("click", focus);
        li.addEventListener("keydown", (e) => { if (e.key === "Enter") focus(); });
      }
      list.append(li);
    });
    markProblems(problems);
  }

  function markProblems(problems) {
    if (kind !== "bpmn" || !imported) return;
    const canvas = modeler.get("canvas");
    const registry = modeler.get("elementRegistry");
    const overlays = modeler.get("overlays");
    marked.forEach((id) => registry.get(id) && canvas.removeMarker(id, "tepat-error"));
    overlays.remove({ type: "tepat-problem" });
    marked = [];
    const byElement = {};
    problems.forEach((p) => { if (p.element_id) (byElement[p.element_id] = byElement[p.element_id] || []).push(p); });
    Object.entries(byElement).forEach(([id, list]) => {
      if (!registry.get(id)) return;
      canvas.addMarker(id, "tepat-error");
      marked.push(id);
      const badge = document.createElement("div");
      badge.className = "tepat-problem-badge";
      badge.textContent = String(list.length);
      badge.title = list.map((p) => p.text || p.message).join("\n");
      overlays.add(id, "tepat-problem", { position: { top: -10, right: 10 }, html: badge });
    });
  }

  function select(id) {
    const element = modeler.get("elementRegistry").get(id);
    if (!element) return;
    modeler.get("selection").select(element);
    modeler.get("canvas").scrollToElement(element);
  }

  async function open() {
    const el = box();
    kind = el.dataset.kind;
    const response = await fetch(el.dataset.src, { credentials: "same-origin" });
    const data = await response.json();
    if (kind === "bpmn") {
      const moddle = await (await fetch(el.dataset.moddle)).json();
      modeler = new window.BpmnJS({ container: el, keyboard: { bindTo: document }, moddleExtensions: { spiffworkflow: moddle } });
    } else {
      modeler = new window.DmnJS({ container: el, common: { keyboard: { bindTo: document } } });
    }
    try {
      await modeler.importXML(data.xml);
    } catch (err) {
      // A diagram from another modeler may have no drawing (no BPMNDI): still list what the engine found.
      showStatus(`${el.dataset.failed} ${err}`, "danger");
      listProblems(data.problems || []);
      return;
    }
    imported = true;
    if (kind === "bpmn") {
      modeler.get("canvas").zoom("fit-viewport");
      modeler.on("commandStack.changed", () => { dirty = true; });
      modeler.on("selection.changed", (e) => showProperties(e.newSelection.length === 1 ? e.newSelection[0] : null));
      modeler.on("element.changed", (e) => { if (current && e.element === current) showProperties(current); });
    } else {
      modeler.on("views.changed", () => {
        const viewer = modeler.getActiveViewer();
        if (viewer) viewer.on("elements.changed", () => { dirty = true; });
      });
      const viewer = modeler.getActiveViewer();
      if (viewer) viewer.on("elements.changed", () => { dirty = true; });
    }
    document.getElementById("source").textContent = data.source === "draft"
      ? `draft · ${data.saved_by || ""}` : "";
    listProblems(data.problems || []);
    el.dataset.ready = "true";
  }

  async function save() {
    const el = box();
    const button = document.getElementById("save");
    button.disabled = true;
    try {
      const { xml } = await modeler.saveXML({ format: true });
      const response = await fetch(el.dataset.save, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify({ xml }),
      });
      const result = await response.json();
      listProblems(result.problems || []);
      showStatus(result.message, result.saved ? (result.problems.length ? "warning" : "success") : "danger");
      if (result.saved) dirty = false;
      el.dataset.saved = String(Date.now());
    } catch (err) {
      showStatus(el.dataset.network, "danger");
    } finally {
      button.disabled = false;
    }
  }

  // --- properties panel (BPMN) ------------------------------------------------------------
  let current = null;

  function extension(bo, type) {
    const values = (bo.extensionElements && bo.extensionElements.values) || [];
    return values.find((v) => v.$type === `${SPIFF}:${type}`);
  }

  function propertyValue(bo, name) {
    const props = extension(bo, "Properties");
    const found = props && (props.properties || []).find((p) => p.name === name);
    return found ? found.value : "";
  }

  function showProperties(element) {
    const panel = document.getElementById("props");
    if (!panel) return;
    current = element && element.type !== "label" ? element : null;
    if (!current || current.type === "bpmn:Process" || current.type === "bpmn:Collaboration") {
      panel.hidden = true;
      return;
    }
    const bo = current.businessObject;
    panel.hidden = false;
    document.getElementById("prop-id").textContent = bo.id;
    document.getElementById("prop-type").textContent = current.type.replace("bpmn:", "");
    panel.querySelectorAll("[data-for]").forEach((part) => { part.hidden = part.dataset.for !== current.type; });
    panel.querySelectorAll("[data-prop]").forEach((input) => { input.value = bo.get(input.dataset.prop) || ""; });
    panel.querySelectorAll("[data-ext]").forEach((input) => { input.value = propertyValue(bo, input.dataset.ext); });
    const op = extension(bo, "ServiceTaskOperator");
    panel.querySelectorAll("[data-operator]").forEach((input) => { input.value = (op && op.get(input.dataset.operator)) || ""; });
    const cond = panel.querySelector("[data-condition]");
    if (cond) cond.value = (bo.conditionExpression && bo.conditionExpression.body) || "";
  }

  function ensureExtensions(bo) {
    const moddle = modeler.get("moddle");
    if (!bo.extensionElements) {
      const ext = moddle.create("bpmn:ExtensionElements", { values: [] });
      ext.$parent = bo;
      return ext;
    }
    return bo.extensionElements;
  }

  function setProperty(name, value) {
    const moddle = modeler.get("moddle");
    const bo = current.businessObject;
    const ext = ensureExtensions(bo);
    let props = ext.values.find((v) => v.$type === `${SPIFF}:Properties`);
    if (!props) {
      props = moddle.create(`${SPIFF}:Properties`, { properties: [] });
      props.$parent = ext;
      ext.values.push(props);
    }
    const list = props.properties || (props.properties = []);
    const index = list.findIndex((p) => p.name === name);
    if (value === "") { if (index >= 0) list.splice(index, 1); } else if (index >= 0) list[index].value = value;
    else { const p = moddle.create(`${SPIFF}:Property`, { name, value }); p.$parent = props; list.push(p); }
    modeler.get("modeling").updateProperties(current, { extensionElements: ext });
  }

  function setOperator(attr, value) {
    const moddle = modeler.get("moddle");
    const bo = current.businessObject;
    const ext = ensureExtensions(bo);
    let op = ext.values.find((v) => v.$type === `${SPIFF}:ServiceTaskOperator`);
    if (!op) {
      op = moddle.create(`${SPIFF}:ServiceTaskOperator`, {});
      op.$parent = ext;
      ext.values.push(op);
    }
    op.set(attr, value || undefined);
    modeler.get("modeling").updateProperties(current, { extensionElements: ext });
  }

  function bindPanel() {
    const panel = document.getElementById("props");
    if (!panel) return;
    panel.addEventListener("change", (event) => {
      const input = event.target;
      if (!current) return;
      const value = input.value.trim();
      const modeling = modeler.get("modeling");
      if (input.dataset.prop) modeling.updateProperties(current, { [input.dataset.prop]: value || undefined });
      else if (input.dataset.ext) setProperty(input.dataset.ext, value);
      else if (input.dataset.operator) setOperator(input.dataset.operator, value);
      else if (input.dataset.condition) {
        const expression = value ? modeler.get("moddle").create("bpmn:FormalExpression", { body: value }) : undefined;
        modeling.updateProperties(current, { conditionExpression: expression });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!box()) return;
    bindPanel();
    document.getElementById("save").addEventListener("click", save);
    window.addEventListener("beforeunload", (event) => {
      if (dirty) { event.preventDefault(); event.returnValue = box().dataset.unsaved; }
    });
    open();
  });
})();
