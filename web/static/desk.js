// Supervisor desk charts (Chart.js): deadlines per district, completions per officer and per district.
// Data comes from the page's <script type="application/json" id="desk-data"> block (no inline scripts: CSP).
document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("desk-data");
  if (!source || !window.Chart || !window.tepatBarChart) return;  // the tables below each chart carry the same figures
  const data = JSON.parse(source.textContent);
  const colours = { on_track: "#198754", due_soon: "#ffc107", overdue: "#dc3545", on_time: "#198754", late: "#dc3545" };
  const chart = (id, block, keys, horizontal) => window.tepatBarChart(id, block, keys, {
    horizontal, stacked: true, names: data.names, colours, maxBarThickness: 56, maxRotation: 60, yTitle: data.names.tasks });

  chart("chart-sla", data.sla, ["on_track", "due_soon", "overdue"], false);
  chart("chart-officers", data.officers, ["on_time", "late"], true);
  chart("chart-districts", data.districts, ["on_time", "late"], true);
});
