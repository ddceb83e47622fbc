// Programme dashboard charts (Chart.js): enrolments and exits per quarter, active enrolments and exits per
// district, payments and commitments. Data comes from <script type="application/json" id="programme-data">
// (no inline scripts: CSP).
document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("programme-data");
  if (!source || !window.Chart || !window.tepatBarChart) return;  // the tables beside each chart carry the same figures
  const data = JSON.parse(source.textContent);
  const colours = { enrolled: "#198754", active: "#198754", exits: "#dc3545", paid: "#198754", failed: "#dc3545",
    returned: "#fd7e14", checks: "#0d6efd", compliant: "#198754", warnings: "#ffc107", suspended: "#dc3545" };
  const bars = (id, block, keys, horizontal, yTitle) => window.tepatBarChart(id, block, keys, {
    horizontal, names: data.names, colours, maxBarThickness: 48, yTitle: yTitle || data.names.families });

  bars("chart-quarters", data.quarters, ["enrolled", "exits"], false);
  bars("chart-prog-districts", data.districts, ["active", "exits"], true);
  const pay = ["paid", "failed", "returned"];
  const com = ["checks", "compliant", "warnings", "suspended"];
  bars("chart-pay-quarters", data.pay_quarters, pay, false, data.names.count);
  bars("chart-pay-districts", data.pay_districts, pay, true);
  bars("chart-com-quarters", data.com_quarters, com, false, data.names.count);
  bars("chart-com-districts", data.com_districts, com, true);
});
