// TrendyCharts: what every lightweight-charts chart of Trendy shares — times and prices as the pages write them.
//
// The server sends times already shifted to the trader's wall clock (market_data.views.local_seconds) and the
// library draws them as UTC, so the tick marks fall on the trader's own midnights and hours. Here they are
// formatted as UTC in the page's language (<html lang>), in the pages' one date style ("4 Dec 2024, 06:00" /
// "2024년 12월 4일 06:00"), and the crosshair's time names the zone ("KST") from the zones the server sends
// (market_data.views.chart_zones: [[shifted seconds from, name], …]). Prices get thousands separators.
//
//   var chart = LightweightCharts.createChart(box, TrendyCharts.options({ precision: 2, zones: data.zones }));
//   TrendyCharts.tooltip(chart, box, { "1701648000": ["Entry: long at 42,100.00 USDT"] });
//
// Used by the strategy pages (charts.js) and the Markets page (market_data/markets.js); the dashboard may use
// it too. Needs the vendored lightweight-charts v5 (global LightweightCharts) only for createChart itself.
(function (root) {
  "use strict";

  function language() {
    var lang = (document.documentElement.lang || "en").toLowerCase();
    // English pages write "4 Dec 2024, 06:00": the British order, as trading_site/formats/en does.
    return lang === "en" || lang.indexOf("en-") === 0 ? "en-GB" : lang;
  }

  var cache = {};
  function dateFormat(name, options) {
    var key = language() + ":" + name;
    if (!cache[key]) {
      cache[key] = new Intl.DateTimeFormat(language(), Object.assign({ timeZone: "UTC", hourCycle: "h23" }, options));
    }
    return cache[key];
  }
  var FORMATS = {
    full: { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" },
    date: { year: "numeric", month: "short", day: "numeric" },
    year: { year: "numeric" },
    month: { month: "short" },
    day: { month: "short", day: "numeric" },
    time: { hour: "2-digit", minute: "2-digit" },
    seconds: { hour: "2-digit", minute: "2-digit", second: "2-digit" },
  };
  function format(name, time) {
    return dateFormat(name, FORMATS[name]).format(new Date(seconds(time) * 1000));
  }

  // lightweight-charts hands a time back as a number (what we gave it) or a business-day object.
  function seconds(time) {
    if (typeof time === "number") {
      return time;
    }
    if (time && typeof time === "object" && "year" in time) {
      return Date.UTC(time.year, time.month - 1, time.day) / 1000;
    }
    return Number(time) || 0;
  }

  function zoneAt(zones, time) {
    var name = "";
    var t = seconds(time);
    (zones || []).forEach(function (zone) {
      if (t >= zone[0] || !name) {
        name = zone[1];
      }
    });
    return name;
  }

  // "4 Dec 2024, 06:00 KST" for a shifted time.
  function when(time, zones) {
    var zone = zoneAt(zones, time);
    return format("full", time) + (zone ? " " + zone : "");
  }

  function number(precision) {
    var digits = Math.max(0, Math.min(precision === undefined ? 2 : precision, 8));
    var formatter = new Intl.NumberFormat(language(), {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
      useGrouping: true,
    });
    return function (value) {
      // A real minus sign, as the pages write it (trading_site/display.py).
      return formatter.format(value).replace("-", "\u2212");
    };
  }

  function tickMark(time, kind) {
    // lightweight-charts' TickMarkType: 0 year, 1 month, 2 day of month, 3 time, 4 time with seconds.
    return format(["year", "month", "day", "time", "seconds"][kind] || "full", time);
  }

  // Chart options: the layout Trendy's charts share, with the localisation above.
  function options(config) {
    config = config || {};
    var zones = config.zones || [];
    return {
      autoSize: true,
      layout: { background: { color: "transparent" }, textColor: "#374151" },
      grid: { vertLines: { color: "rgba(0,0,0,0.06)" }, horzLines: { color: "rgba(0,0,0,0.06)" } },
      localization: {
        locale: language(),
        timeFormatter: function (time) {
          return when(time, zones);
        },
        priceFormatter: number(config.precision),
      },
      timeScale: { timeVisible: true, secondsVisible: false, tickMarkFormatter: tickMark },
    };
  }

  // Point at a bar that has lines (several events on one bar share one marker): a box lists them, under the
  // bar's time. ``lines`` maps a time (as a string) to its lines of text.
  function tooltip(chart, box, lines, zones) {
    var tip = box.querySelector(".chart-tooltip");
    if (!tip) {
      tip = document.createElement("div");
      tip.className = "chart-tooltip";
      tip.hidden = true;
      tip.setAttribute("role", "status");
      box.appendChild(tip);
    }
    chart.subscribeCrosshairMove(function (param) {
      var found = param.time !== undefined && param.point ? lines[String(seconds(param.time))] : null;
      if (!found || !found.length) {
        tip.hidden = true;
        return;
      }
      tip.replaceChildren();
      var heading = document.createElement("strong");
      heading.textContent = when(param.time, zones);
      tip.appendChild(heading);
      found.forEach(function (line) {
        var item = document.createElement("div");
        item.textContent = line;
        tip.appendChild(item);
      });
      tip.hidden = false;
      var left = Math.min(param.point.x + 12, box.clientWidth - tip.offsetWidth - 4);
      tip.style.left = Math.max(left, 4) + "px";
      tip.style.top = "8px";
    });
    return tip;
  }

  root.TrendyCharts = {
    options: options,
    tooltip: tooltip,
    when: when,
    date: function (time) {
      return format("date", time);
    },
    number: number,
    tickMark: tickMark,
    zoneAt: zoneAt,
  };
})(window);
