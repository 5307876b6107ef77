// The dashboard's charts (vendored lightweight-charts v5): the market with the trader's fills and the bot's
// indicator lines, and the equity curve of each account. Data come from the page (json_script).
(function () {
  "use strict";
  if (typeof LightweightCharts === "undefined" || typeof TrendyCharts === "undefined") {
    return;
  }
  var element = document.getElementById("dashboard-charts");
  if (!element) {
    return;
  }
  var data = JSON.parse(element.textContent);
  var COLORS = ["#2563eb", "#f59e0b", "#7c3aed", "#0891b2", "#db2777"];

  // Times and prices as every Trendy chart writes them, and the tooltip: strategies/static/strategies/chartkit.js.
  function makeChart(container, precision, zones) {
    return LightweightCharts.createChart(container, TrendyCharts.options({ precision: precision, zones: zones }));
  }

  var market = data.market;
  var box = document.getElementById("market-chart");
  if (market && box && market.candles.candles.length) {
    var zones = market.candles.zones || [];
    var chart = makeChart(box, market.candles.precision, zones);
    var candles = chart.addSeries(LightweightCharts.CandlestickSeries, {
      upColor: "#16a34a",
      downColor: "#dc2626",
      borderVisible: false,
      wickUpColor: "#16a34a",
      wickDownColor: "#dc2626",
      priceFormat: { type: "price", precision: market.candles.precision, minMove: market.candles.minMove },
    });
    candles.setData(
      market.candles.candles.map(function (c) {
        return { time: c.time, open: c.open, high: c.high, low: c.low, close: c.close };
      })
    );
    market.overlays.forEach(function (overlay, i) {
      var series = chart.addSeries(LightweightCharts.LineSeries, {
        color: COLORS[i % COLORS.length],
        lineWidth: 1,
        priceLineVisible: false,
        lastValueVisible: false,
        title: overlay.name,
      });
      series.setData(overlay.points);
    });
    LightweightCharts.createSeriesMarkers(candles, market.markers);
    TrendyCharts.tooltip(chart, box, market.fills || {}, zones);
    chart.timeScale().fitContent();
  }

  var equityBox = document.getElementById("equity-chart");
  if (equityBox && data.equity && data.equity.length) {
    var equityChart = makeChart(equityBox, 2, data.equity[0].zones || []);
    data.equity.forEach(function (line, i) {
      var series = equityChart.addSeries(LightweightCharts.LineSeries, {
        color: COLORS[i % COLORS.length],
        lineWidth: 2,
        priceLineVisible: false,
        title: line.name,
      });
      series.setData(line.points);
    });
    equityChart.timeScale().fitContent();
  }
})();
