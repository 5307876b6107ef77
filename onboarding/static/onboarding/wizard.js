// The onboarding wizard's equity chart (vendored lightweight-charts v5, global LightweightCharts). Step 5 is
// swapped in by htmx, so the chart is drawn on page load and after every swap, once per container.
(function () {
  "use strict";
  function draw(root) {
    if (typeof LightweightCharts === "undefined") return;
    root.querySelectorAll("[data-onboarding-equity]").forEach(function (box) {
      if (box.dataset.drawn) return;
      var source = document.getElementById(box.getAttribute("data-onboarding-equity"));
      var points = source ? JSON.parse(source.textContent) : [];
      if (!points.length) return;
      box.dataset.drawn = "1";
      // The page's language for the axis (month names) and grouped amounts with two decimals.
      var locale = document.documentElement.lang || undefined;
      var amount = new Intl.NumberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
      var chart = LightweightCharts.createChart(box, {
        autoSize: true,
        localization: { locale: locale, priceFormatter: function (value) { return amount.format(value); } },
        layout: { background: { color: "transparent" }, textColor: "#374151" },
        grid: { vertLines: { color: "rgba(0,0,0,0.06)" }, horzLines: { color: "rgba(0,0,0,0.06)" } },
        timeScale: { timeVisible: true, secondsVisible: false },
      });
      var series = chart.addSeries(LightweightCharts.LineSeries, { color: "#2563eb", lineWidth: 2, priceLineVisible: false });
      series.setData(points);
      chart.timeScale().fitContent();
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function () { draw(document); });
})();
