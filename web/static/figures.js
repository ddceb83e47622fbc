// Draws the public figures chart (Chart.js) from the JSON block on the page (no inline scripts: CSP).
document.addEventListener("DOMContentLoaded", () => {
  const canvas = document.getElementById("figures-chart");
  const source = document.getElementById("figures-chart-data");
  if (!canvas || !source || !window.Chart) return;
  const chart = JSON.parse(source.textContent);
  // One bar per district: the chart grows with them (CSSOM, allowed by the CSP; no style attribute).
  canvas.parentElement.style.height = `${Math.max(180, chart.labels.length * 26 + 110)}px`;
  const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: chart.labels,
      datasets: chart.datasets.map((d) => ({ label: d.label, data: d.data, backgroundColor: d.colour })),
    },
    options: {
      indexAxis: "y",
      maintainAspectRatio: false,
      animation: reduceMotion ? false : undefined,
      scales: {
        x: { stacked: true, beginAtZero: true, title: { display: true, text: chart.axis }, ticks: { precision: 0 } },
        y: { stacked: true },
      },
      plugins: { legend: { position: "top" } },
    },
  });
  canvas.dataset.ready = "true";
});
