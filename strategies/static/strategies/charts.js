// Charts of the strategy pages, drawn with the vendored lightweight-charts v5 (global LightweightCharts)
// from data the page embeds with json_script. Times arrive already shifted to the viewer's time zone.
(function () {
  "use strict";
  if (typeof LightweightCharts === "undefined") {
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

  function makeChart(container) {
    return LightweightCharts.createChart(container, {
      autoSize: true,
      layout: { background: { color: "transparent" }, textColor: "#374151" },
      grid: { vertLines: { color: "rgba(0,0,0,0.06)" }, horzLines: { color: "rgba(0,0,0,0.06)" } },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
  }

  function line(chart, points, color, width) {
    var series = chart.addSeries(LightweightCharts.LineSeries, {
      color: color,
      lineWidth: width || 2,
      priceLineVisible: false,
    });
    series.setData(points);
    return series;
  }

  // Strategies page: one small equity curve per strategy.
  var equities = data("strategy-equity");
  if (equities) {
    document.querySelectorAll("[data-equity]").forEach(function (container) {
      var points = equities[container.getAttribute("data-equity")];
      if (points && points.length) {
        var chart = makeChart(container);
        line(chart, points, BLUE);
        chart.timeScale().fitContent();
      }
    });
  }

  // Run page: equity against buy and hold, and candles with entry/exit markers.
  var run = data("run-charts");
  if (run) {
    var equityBox = document.getElementById("equity-chart");
    if (equityBox) {
      var equityChart = makeChart(equityBox);
      line(equityChart, run.buy_hold, GREY, 1);
      line(equityChart, run.equity, BLUE, 2);
      equityChart.timeScale().fitContent();
    }
    var tradesBox = document.getElementById("trades-chart");
    if (tradesBox && run.candles.candles.length) {
      var chart = makeChart(tradesBox);
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
      chart.timeScale().fitContent();
    }
  }

  // Compare page: both equity curves.
  var compare = data("compare-charts");
  if (compare) {
    var box = document.getElementById("compare-chart");
    if (box) {
      var compareChart = makeChart(box);
      line(compareChart, compare.run0, BLUE, 2);
      line(compareChart, compare.run1, GREY, 2);
      compareChart.timeScale().fitContent();
    }
  }
})();
