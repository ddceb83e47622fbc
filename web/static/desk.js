// Supervisor desk charts (Chart.js): deadlines per district, completions per officer and per district.
// Data comes from the page's <script type="application/json" id="desk-data"> block (no inline scripts: CSP).
document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("desk-data");
  if (!source || !window.Chart) return;  // the tables below each chart carry the same figures
  const data = JSON.parse(source.textContent);
  const colours = { on_track: "#198754", due_soon: "#ffc107", overdue: "#dc3545", on_time: "#198754", late: "#dc3545" };

  function stacked(canvasId, block, keys, horizontal) {
    const canvas = document.getElementById(canvasId);
    if (!canvas) return;
    if (!block.labels.length) {
      canvas.closest(".desk-chart").hidden = true;
      return;
    }
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: block.labels,
        datasets: keys.map((key) => ({
          label: data.names[key], data: block.series[key], backgroundColor: colours[key], maxBarThickness: 56,
        })),
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: { stacked: true, ticks: horizontal ? { precision: 0 } : { autoSkip: false, maxRotation: 60 } },
          y: { stacked: true, beginAtZero: true, ticks: horizontal ? { autoSkip: false } : { precision: 0 },
               title: { display: !horizontal, text: data.names.tasks } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
    canvas.dataset.ready = "true";
  }

  stacked("chart-sla", data.sla, ["on_track", "due_soon", "overdue"], false);
  stacked("chart-officers", data.officers, ["on_time", "late"], true);
  stacked("chart-districts", data.districts, ["on_time", "late"], true);
});
