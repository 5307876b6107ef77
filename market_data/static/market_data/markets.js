// Draws the candles that the Markets page embeds with json_script (#markets-candles) into #markets-chart.
// Needs the vendored lightweight-charts v5 (global LightweightCharts); without it the page keeps its table.
// The candles end at the last one the market clock has closed (the server bounds them).
(function () {
  "use strict";
  var container = document.getElementById("markets-chart");
  var dataElement = document.getElementById("markets-candles");
  if (!container || !dataElement) {
    return;
  }
  if (typeof LightweightCharts === "undefined") {
    container.hidden = true;
    var missing = document.getElementById("markets-chart-missing");
    if (missing) {
      missing.hidden = false;
    }
    return;
  }
  var data = JSON.parse(dataElement.textContent);
  // Times and prices as every page writes them (strategies/static/strategies/chartkit.js), the zone named.
  var options = window.TrendyCharts
    ? window.TrendyCharts.options({ precision: data.precision, zones: data.zones })
    : { autoSize: true, timeScale: { timeVisible: true, secondsVisible: false } };
  var chart = LightweightCharts.createChart(container, options);
  var candles = chart.addSeries(LightweightCharts.CandlestickSeries, {
    upColor: "#16a34a",
    downColor: "#dc2626",
    borderVisible: false,
    wickUpColor: "#16a34a",
    wickDownColor: "#dc2626",
    priceFormat: { type: "price", precision: data.precision, minMove: data.minMove },
  });
  // Candles use the top three quarters; the volume histogram sits below them on its own scale.
  candles.priceScale().applyOptions({ scaleMargins: { top: 0.05, bottom: 0.25 } });
  candles.setData(
    data.candles.map(function (c) {
      return { time: c.time, open: c.open, high: c.high, low: c.low, close: c.close };
    })
  );
  var volume = chart.addSeries(LightweightCharts.HistogramSeries, {
    priceFormat: { type: "volume" },
    priceScaleId: "",
  });
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  volume.setData(
    data.candles.map(function (c) {
      return {
        time: c.time,
        value: c.volume,
        color: c.close >= c.open ? "rgba(22,163,74,0.35)" : "rgba(220,38,38,0.35)",
      };
    })
  );
  chart.timeScale().fitContent();
})();
