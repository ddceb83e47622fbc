// One bar chart (Chart.js) from a {labels, series} block, shared by the supervisor desk and the programme
// dashboard. A chart with no labels hides its card (the table beside it says there is nothing yet).
window.tepatBarChart = function (canvasId, block, keys, o) {
  const canvas = document.getElementById(canvasId);
  if (!canvas || !window.Chart) return;
  if (!block.labels.length) {
    canvas.closest(".desk-chart").hidden = true;
    return;
  }
  const h = Boolean(o.horizontal), stacked = Boolean(o.stacked);
  new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: block.labels,
      datasets: keys.map((key) => ({
        label: o.names[key], data: block.series[key], backgroundColor: o.colours[key], maxBarThickness: o.maxBarThickness,
      })),
    },
    options: {
      indexAxis: h ? "y" : "x",
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: { stacked, beginAtZero: !stacked, ticks: h ? { precision: 0 } : { autoSkip: false, ...(o.maxRotation ? { maxRotation: o.maxRotation } : {}) } },
        y: { stacked, beginAtZero: true, ticks: h ? { autoSkip: false } : { precision: 0 },
             title: { display: !h, text: o.yTitle } },
      },
      plugins: { legend: { position: "bottom" } },
    },
  });
  canvas.dataset.ready = "true";
};
