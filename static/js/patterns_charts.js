// Charts of the pattern-search pages (TradingView Lightweight Charts, no inline script: the CSP
// forbids it). Each chart is an element with data-chart:
//   "timeline": every day's similarity to the query, analogs marked; data from a json_script
//               element named by data-source ({points: [{time, value}], analogs: [day]}).
//   "equity":   walk-forward equity curves; json_script {analog, random_median, buy_and_hold}.
//   "price":    daily candles with astro overlays, read from data-url (the chart data view):
//               retrograde lanes in a pane under the candles, new/full moons and aspects as markers.
// Colours come from CSS custom properties in app.css, so both themes work.
(function () {
  "use strict";
  if (!window.LightweightCharts) return;
  var LC = window.LightweightCharts;
  var ASPECT_SYMBOLS = { conjunction: "☌", sextile: "*", square: "□", trine: "△", opposition: "☍" };

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function statusOf(element) {
    var next = element.nextElementSibling;
    return next && next.classList.contains("chart-status") ? next : null;
  }

  function say(element, text) {
    var status = statusOf(element);
    if (status) status.textContent = text;
  }

  function readJson(element) {
    var source = document.getElementById(element.dataset.source);
    return source ? JSON.parse(source.textContent) : null;
  }

  function newChart(element, extra) {
    var options = {
      autoSize: true,
      // The logo would inject a <style> element, which the CSP blocks; the pages credit
      // TradingView in text instead, as its licence asks.
      layout: {
        background: { color: "transparent" },
        textColor: cssVar("--pico-color", "#444"),
        attributionLogo: false,
      },
      grid: {
        vertLines: { color: cssVar("--pico-muted-border-color", "#e5e5e5") },
        horzLines: { color: cssVar("--pico-muted-border-color", "#e5e5e5") },
      },
      timeScale: { timeVisible: false },
    };
    for (var key in extra || {}) options[key] = extra[key];
    return LC.createChart(element, options);
  }

  function drawTimeline(element) {
    var data = readJson(element);
    if (!data || !data.points.length) {
      say(element, "No similarity to draw.");
      return;
    }
    var chart = newChart(element, { localization: { priceFormatter: function (v) { return v.toFixed(3); } } });
    var line = chart.addSeries(LC.LineSeries, {
      color: cssVar("--pattern-similarity", "#0172ad"),
      lineWidth: 1,
      priceLineVisible: false,
    });
    line.setData(data.points);
    var analog = cssVar("--pattern-analog", "#0172ad");
    LC.createSeriesMarkers(
      line,
      data.analogs.map(function (day) {
        return { time: day, position: "inBar", shape: "circle", color: analog, size: 1 };
      })
    );
    chart.timeScale().fitContent();
    say(element, data.points.length + " days; " + data.analogs.length + " analogs marked.");
  }

  function drawEquity(element) {
    var data = readJson(element);
    if (!data || !data.analog.length) {
      say(element, "No equity to draw.");
      return;
    }
    var chart = newChart(element);
    var curves = [
      ["analog", "--pattern-analog", "#0172ad", 2],
      ["random_median", "--pattern-random", "#c07a00", 1],
      ["buy_and_hold", "--pattern-hold", "#6b7a8f", 1],
    ];
    curves.forEach(function (curve) {
      var series = chart.addSeries(LC.LineSeries, {
        color: cssVar(curve[1], curve[2]),
        lineWidth: curve[3],
        priceLineVisible: false,
      });
      series.setData(data[curve[0]]);
    });
    chart.timeScale().fitContent();
    say(element, data.analog.length + " periods.");
  }

  function aspectText(name) {
    var parts = name.split("-");
    if (parts.length !== 3) return name;
    return parts[0].slice(0, 2) + " " + (ASPECT_SYMBOLS[parts[1]] || parts[1]) + " " + parts[2].slice(0, 2);
  }

  function toMarker(marker) {
    if (marker.kind === "new_moon" || marker.kind === "full_moon") {
      var full = marker.kind === "full_moon";
      return {
        time: marker.time,
        position: "aboveBar",
        shape: "circle",
        color: full ? cssVar("--pattern-full-moon", "#d4a200") : cssVar("--pattern-new-moon", "#3a3f4b"),
        size: 0.6,
      };
    }
    return {
      time: marker.time,
      position: "belowBar",
      shape: "arrowUp",
      color: cssVar("--pattern-aspect", "#8e44ad"),
      text: aspectText(marker.text),
    };
  }

  function drawPrice(element, body) {
    var chart = newChart(element);
    var candles = chart.addSeries(LC.CandlestickSeries, {});
    candles.setData(body.candles);
    LC.createSeriesMarkers(candles, body.markers.map(toMarker));
    var lanes = body.retrograde.length;
    body.retrograde.forEach(function (overlay, index) {
      var lane = chart.addSeries(
        LC.HistogramSeries,
        {
          color: cssVar("--planet-" + overlay.body, "#888"),
          priceScaleId: "retrograde-" + overlay.body,
          priceLineVisible: false,
          lastValueVisible: false,
          title: overlay.body,
        },
        1
      );
      lane.priceScale().applyOptions({
        visible: false,
        scaleMargins: { top: index / lanes + 0.02, bottom: 1 - (index + 1) / lanes + 0.02 },
      });
      lane.setData(
        overlay.days.map(function (day) {
          return { time: day, value: 1 };
        })
      );
    });
    if (lanes) chart.panes()[1].setStretchFactor(Math.min(0.45, 0.12 * lanes));
    chart.timeScale().fitContent();
    var periods = body.retrograde
      .map(function (overlay) {
        return overlay.body + " retrograde " + overlay.periods.length + "×";
      })
      .join(", ");
    var moons = body.markers.filter(function (m) { return m.kind !== "aspect"; }).length;
    say(
      element,
      body.candles.length + " daily candles from " + body.start + " to " + body.end +
        (periods ? "; " + periods : "") +
        (moons ? "; " + moons + " new and full moons" : "") +
        (body.aspects.length ? "; " + body.aspects.length + " aspect passes" : "") + "."
    );
  }

  function loadPrice(element) {
    fetch(element.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.detail || "The chart could not be loaded.");
          return body;
        });
      })
      .then(function (body) {
        if (!body.candles.length) {
          say(element, body.detail || "No candles are stored for this period.");
          return;
        }
        drawPrice(element, body);
      })
      .catch(function (error) {
        say(element, error.message);
      });
  }

  var drawers = { timeline: drawTimeline, equity: drawEquity, price: loadPrice };
  document.querySelectorAll("[data-chart]").forEach(function (element) {
    var draw = drawers[element.dataset.chart];
    if (draw) draw(element);
  });
})();
