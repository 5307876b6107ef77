// The equity charts of a marketplace listing: for each market, Trendy's backtest on all stored candles and its
// out-of-sample run, from the data the page embeds (json_script "listing-charts"); times arrive shifted to the
// viewer's wall clock and chartkit.js (TrendyCharts) formats them as every page does.
(function () {
  "use strict";
  if (typeof LightweightCharts === "undefined" || typeof TrendyCharts === "undefined") {
    return;
  }
  var element = document.getElementById("listing-charts");
  if (!element) {
    return;
  }
  var charts = JSON.parse(element.textContent);
  var BLUE = "#2563eb";
  var GREY = "#9ca3af";

  function line(chart, points, color) {
    var series = chart.addSeries(LightweightCharts.LineSeries, { color: color, lineWidth: 2, priceLineVisible: false });
    series.setData(points || []);
  }

  document.querySelectorAll("[data-listing-chart]").forEach(function (box) {
    var data = charts[Number(box.getAttribute("data-listing-chart"))];
    if (!data) {
      return;
    }
    var chart = LightweightCharts.createChart(box, TrendyCharts.options({ precision: 0, zones: data.zones }));
    line(chart, data.public, BLUE);
    line(chart, data.unseen, GREY);
    chart.timeScale().fitContent();
  });
})();
