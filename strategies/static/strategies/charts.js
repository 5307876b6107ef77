// Charts of the strategy pages, drawn with the vendored lightweight-charts v5 (global LightweightCharts) from data
// the page embeds with json_script. Times arrive shifted to the viewer's wall clock; chartkit.js (TrendyCharts)
// formats them and the prices as every page does, and names the zone.
(function () {
  "use strict";
  if (typeof LightweightCharts === "undefined" || typeof TrendyCharts === "undefined") {
    return;
  }
  var GREEN = "#16a34a";
  var RED = "#dc2626";
  var BLUE = "#2563eb";
  var GREY = "#9ca3af";

  function data(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function makeChart(container, precision, zones) {
    return LightweightCharts.createChart(container, TrendyCharts.options({ precision: precision, zones: zones }));
  }

  function line(chart, points, color, width) {
    var series = chart.addSeries(LightweightCharts.LineSeries, {
      color: color,
      lineWidth: width || 2,
      priceLineVisible: false,
    });
    series.setData(points || []);
    return series;
  }

  // Strategies page: one small equity curve per strategy.
  var equities = data("strategy-equity");
  if (equities) {
    document.querySelectorAll("[data-equity]").forEach(function (container) {
      var points = equities[container.getAttribute("data-equity")];
      if (points && points.length) {
        var chart = makeChart(container, 0, equities.zones);
        line(chart, points, BLUE);
        chart.timeScale().fitContent();
      }
    });
  }

  // Run page: equity against buy and hold, and candles with entry/exit markers (one marker per candle; the
  // tooltip lists every event of the candle the pointer is on).
  var run = data("run-charts");
  if (run) {
    var equityBox = document.getElementById("equity-chart");
    if (equityBox) {
      var equityChart = makeChart(equityBox, 0, run.zones);
      line(equityChart, run.buy_hold, GREY, 1);
      line(equityChart, run.equity, BLUE, 2);
      equityChart.timeScale().fitContent();
    }
    var tradesBox = document.getElementById("trades-chart");
    if (tradesBox && run.candles.candles.length) {
      var chart = makeChart(tradesBox, run.candles.precision, run.zones);
      var candles = chart.addSeries(LightweightCharts.CandlestickSeries, {
        upColor: GREEN,
        downColor: RED,
        borderVisible: false,
        wickUpColor: GREEN,
        wickDownColor: RED,
        priceFormat: { type: "price", precision: run.candles.precision, minMove: run.candles.minMove },
      });
      candles.setData(
        run.candles.candles.map(function (c) {
          return { time: c.time, open: c.open, high: c.high, low: c.low, close: c.close };
        })
      );
      LightweightCharts.createSeriesMarkers(candles, run.markers);
      TrendyCharts.tooltip(chart, tradesBox, run.lines || {}, run.zones);
      chart.timeScale().fitContent();
    }
  }

  // Compare page: both equity curves.
  var compare = data("compare-charts");
  if (compare) {
    var box = document.getElementById("compare-chart");
    if (box) {
      var compareChart = makeChart(box, 0, compare.zones);
      line(compareChart, compare.run0, BLUE, 2);
      line(compareChart, compare.run1, GREY, 2);
      compareChart.timeScale().fitContent();
    }
  }
})();
