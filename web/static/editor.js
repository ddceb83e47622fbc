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

  // Fit the whole diagram when it stays readable; a long process would fit only as a thin strip, so
  // then open at a readable scale on its start (drag or scroll to see the rest).
  const READABLE = 0.6;
  function readableZoom(canvas, el) {
    canvas.zoom("fit-viewport");
    if (canvas.zoom() >= READABLE) return;
    const inner = canvas.viewbox().inner;
    const scale = 0.8;
    const palette = 130; // px kept free on the left for the modeler's tool palette
    canvas.viewbox({ x: inner.x - palette / scale, y: inner.y - 20, width: el.clientWidth / scale,
                     height: el.clientHeight / scale });
  }

  // "Go to": every named step of the diagram, to find one in a long process.
  function fillJump() {
    const jump = document.getElementById("jump");
    if (!jump) return;
    const steps = modeler.get("elementRegistry").filter((e) => e.type !== "label" && /Task|Event|Gateway|SubProcess|CallActivity/.test(e.type));
    steps.sort((a, b) => (a.businessObject.name || a.id).localeCompare(b.businessObject.name || b.id));
    steps.forEach((e) => jump.add(new Option(e.businessObject.name ? `${e.businessObject.name} (${e.id})` : e.id, e.id)));
    jump.addEventListener("change", () => { if (jump.value) select(jump.value); });
    jump.hidden = false;
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
      // Keyboard shortcuts work while the canvas has the focus (diagram-js binds them itself).
      modeler = new window.BpmnJS({ container: el, moddleExtensions: { spiffworkflow: moddle } });
    } else {
      modeler = new window.DmnJS({ container: el });
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
      readableZoom(modeler.get("canvas"), el);
      fillJump();
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
    panel.querySelectorAll("[data-for]").forEach((part) => { part.hidden = !part.dataset.for.split(" ").includes(current.type); });
    panel.querySelectorAll("[data-prop]").forEach((input) => { setValue(input, bo.get(input.dataset.prop) || ""); });
    panel.querySelectorAll("[data-ext]").forEach((input) => { setValue(input, propertyValue(bo, input.dataset.ext)); });
    panel.querySelectorAll("[data-ext-list]").forEach((input) => fillTaskChoices(input, propertyValue(bo, input.dataset.extList)));
    panel.querySelectorAll("[data-lane]").forEach((input) => { const lane = laneOf(bo); setValue(input, lane ? lane.name || "" : ""); });
    const op = extension(bo, "ServiceTaskOperator");
    panel.querySelectorAll("[data-operator]").forEach((input) => { input.value = (op && op.get(input.dataset.operator)) || ""; });
    const cond = panel.querySelector("[data-condition]");
    if (cond) cond.value = (bo.conditionExpression && bo.conditionExpression.body) || "";
  }

  // A pick-list shows a value that is not among its choices (an older diagram's) as such, never blank.
  function setValue(input, value) {
    if (input.closest("[hidden]")) return; // a field this element does not have
    [...input.options || []].filter((o) => o.dataset.added).forEach((o) => o.remove());
    if (input.tagName === "SELECT" && value && ![...input.options].some((o) => o.value === value)) {
      const option = new Option(`${value} ${input.dataset.unknown || ""}`.trim(), value);
      option.dataset.added = "1";
      input.add(option);
    }
    input.value = value;
  }

  // The four-eyes list: the other user tasks of this diagram, by name; ids the diagram lacks stay visible.
  function fillTaskChoices(input, value) {
    const chosen = value ? value.split(",").map((v) => v.trim()).filter(Boolean) : [];
    const tasks = modeler.get("elementRegistry").filter((e) => e.type === "bpmn:UserTask" && e.id !== current.id);
    input.replaceChildren();
    tasks.forEach((task) => {
      const name = task.businessObject.name;
      input.add(new Option(name ? `${name} (${task.id})` : task.id, task.id, false, chosen.includes(task.id)));
    });
    chosen.filter((id) => !tasks.some((t) => t.id === id)).forEach((id) => {
      input.add(new Option(`${id} ?`, id, false, true));
    });
  }

  // Lanes decide who works a task (BANSOS_LANE_ROLES maps a lane's name to a role). They need not be
  // drawn: the task is moved between the process's lanes in the model itself.
  function lanesOf(bo) {
    const process = bo.$parent;
    return ((process && process.laneSets) || []).flatMap((set) => set.lanes || []);
  }

  function laneOf(bo) {
    return lanesOf(bo).find((lane) => (lane.flowNodeRef || []).includes(bo));
  }

  function setLane(name) {
    const bo = current.businessObject;
    const process = bo.$parent;
    const moddle = modeler.get("moddle");
    lanesOf(bo).forEach((lane) => {
      const refs = lane.flowNodeRef || [];
      const at = refs.indexOf(bo);
      if (at >= 0) refs.splice(at, 1);
    });
    if (name) {
      let lane = lanesOf(bo).find((l) => l.name === name);
      if (!lane) {
        let set = (process.laneSets || [])[0];
        if (!set) {
          set = moddle.create("bpmn:LaneSet", { id: `lanes_${process.id}`, lanes: [] });
          set.$parent = process;
          process.laneSets = [set];
        }
        lane = moddle.create("bpmn:Lane", { id: `lane_${name.toLowerCase()}_${Date.now() % 100000}`, name, flowNodeRef: [] });
        lane.$parent = set;
        set.lanes = set.lanes || [];
        set.lanes.push(lane);
      }
      lane.flowNodeRef = lane.flowNodeRef || [];
      lane.flowNodeRef.push(bo);
    }
    dirty = true;
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
      if (input.dataset.lane) {
        setLane(input.value);
        return;
      }
      if (input.dataset.extList) {
        setProperty(input.dataset.extList, [...input.selectedOptions].map((o) => o.value).join(","));
        return;
      }
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
