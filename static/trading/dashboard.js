// The dashboard's charts (vendored lightweight-charts v5): the market with the trader's fills and the bot's
// indicator lines, and the equity curve of each account. Data come from the page (json_script).
(function () {
  "use strict";
  if (typeof LightweightCharts === "undefined") {
    return;
  }
  var element = document.getElementById("dashboard-charts");
  if (!element) {
    return;
  }
  var data = JSON.parse(element.textContent);
  var COLORS = ["#2563eb", "#f59e0b", "#7c3aed", "#0891b2", "#db2777"];
  var language = data.language || document.documentElement.lang || "en";

  // The server shifts every time to the user's wall clock and the library draws it as UTC: format as UTC.
  function dateFormat(options) {
    return new Intl.DateTimeFormat(language, Object.assign({ timeZone: "UTC", hourCycle: "h23" }, options));
  }
  var formats = {
    full: dateFormat({ year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }),
    year: dateFormat({ year: "numeric" }),
    month: dateFormat({ month: "short" }),
    day: dateFormat({ month: "short", day: "numeric" }),
    time: dateFormat({ hour: "2-digit", minute: "2-digit" }),
  };
  function asDate(time) {
    return new Date(time * 1000);
  }
  function tickMark(time, kind) {
    // lightweight-charts' TickMarkType: 0 year, 1 month, 2 day of month, 3 time, 4 time with seconds
    var format = [formats.year, formats.month, formats.day, formats.time, formats.time][kind] || formats.full;
    return format.format(asDate(time));
  }
  function priceFormatter(precision) {
    var format = new Intl.NumberFormat(language, { minimumFractionDigits: precision, maximumFractionDigits: precision });
    return function (price) {
      return format.format(price);
    };
  }

  function makeChart(container, precision) {
    return LightweightCharts.createChart(container, {
      autoSize: true,
      layout: { background: { color: "transparent" }, textColor: "#374151" },
      grid: { vertLines: { color: "rgba(0,0,0,0.06)" }, horzLines: { color: "rgba(0,0,0,0.06)" } },
      localization: {
        locale: language,
        timeFormatter: function (time) {
          return formats.full.format(asDate(time));
        },
        priceFormatter: priceFormatter(precision),
      },
      timeScale: { timeVisible: true, secondsVisible: false, tickMarkFormatter: tickMark },
    });
  }

  // Point at a candle with fills: the list of them (several fills on one candle share one marker).
  function fillsTooltip(chart, box, fills) {
    var tip = box.querySelector(".chart-tooltip");
    if (!tip) {
      return;
    }
    chart.subscribeCrosshairMove(function (param) {
      var lines = param.time !== undefined && param.point ? fills[String(param.time)] : null;
      if (!lines || !lines.length) {
        tip.hidden = true;
        return;
      }
      tip.replaceChildren();
      var when = document.createElement("strong");
      when.textContent = formats.full.format(asDate(param.time));
      tip.appendChild(when);
      lines.forEach(function (line) {
        var item = document.createElement("div");
        item.textContent = line;
        tip.appendChild(item);
      });
      tip.hidden = false;
      var left = Math.min(Math.max(param.point.x + 12, 0), box.clientWidth - tip.offsetWidth - 4);
      tip.style.left = Math.max(left, 4) + "px";
      tip.style.top = "8px";
    });
  }

  var market = data.market;
  var box = document.getElementById("market-chart");
  if (market && box && market.candles.candles.length) {
    var chart = makeChart(box, market.candles.precision);
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
    fillsTooltip(chart, box, market.fills || {});
    chart.timeScale().fitContent();
  }

  var equityBox = document.getElementById("equity-chart");
  if (equityBox && data.equity && data.equity.length) {
    var equityChart = makeChart(equityBox, 2);
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
