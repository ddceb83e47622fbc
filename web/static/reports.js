// Programme dashboard charts (Chart.js): enrolments and exits per quarter, active enrolments and exits per
// district. Data comes from <script type="application/json" id="programme-data"> (no inline scripts: CSP).
document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("programme-data");
  if (!source || !window.Chart) return;  // the tables beside each chart carry the same figures
  const data = JSON.parse(source.textContent);
  const colours = { enrolled: "#198754", active: "#198754", exits: "#dc3545" };

  function bars(canvasId, block, keys, horizontal) {
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
          label: data.names[key], data: block.series[key], backgroundColor: colours[key], maxBarThickness: 48,
        })),
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: { beginAtZero: true, ticks: horizontal ? { precision: 0 } : { autoSkip: false } },
          y: { beginAtZero: true, ticks: horizontal ? { autoSkip: false } : { precision: 0 },
               title: { display: !horizontal, text: data.names.families } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
    canvas.dataset.ready = "true";
  }

  bars("chart-quarters", data.quarters, ["enrolled", "exits"], false);
  bars("chart-prog-districts", data.districts, ["active", "exits"], true);
});
