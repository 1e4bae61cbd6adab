// Draws the candlestick chart on the market data page from the candles API (session auth).
(function () {
  "use strict";
  const element = document.getElementById("candle-chart");
  const status = document.getElementById("candle-chart-status");
  if (!element || !window.LightweightCharts) return;

  function cssColor(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function toBar(candle) {
    return {
      time: Math.floor(Date.parse(candle.open_time) / 1000),
      open: Number(candle.open),
      high: Number(candle.high),
      low: Number(candle.low),
      close: Number(candle.close),
    };
  }

  fetch(element.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body.detail || "The candles could not be loaded.");
        return body;
      });
    })
    .then(function (body) {
      const chart = LightweightCharts.createChart(element, {
        autoSize: true,
        layout: {
          background: { color: "transparent" },
          textColor: cssColor("--pico-color", "#444"),
          attributionLogo: false, // its inline <style> breaks the CSP; the page credits TradingView in text
        },
        grid: {
          vertLines: { color: cssColor("--pico-muted-border-color", "#e5e5e5") },
          horzLines: { color: cssColor("--pico-muted-border-color", "#e5e5e5") },
        },
        timeScale: { timeVisible: true, secondsVisible: false },
      });
      const series = chart.addSeries(LightweightCharts.CandlestickSeries, {});
      series.setData(body.candles.map(toBar));
      chart.timeScale().fitContent();
      const forming = body.candles.filter(function (c) { return !c.is_closed; }).length;
      status.textContent = body.candles.length + " candles" +
        (forming ? " (the last is still forming)" : "") +
        (body.next_start ? "; more after " + body.next_start : "") + ".";
    })
    .catch(function (error) {
      status.textContent = error.message;
    });
})();
