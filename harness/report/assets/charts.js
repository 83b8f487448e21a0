/* The harness's chart renderer: draws every chart a page's data names, with uPlot.
 *
 * The page embeds one JSON document (<script id="report-data">):
 *   {columns: {name: [numbers or null]}, charts: [spec, ...]}
 * and each spec says what to draw where:
 *   {id, kind: "time" | "dist" | "rate" | "runs", x: column, labels?: [x tick labels],
 *    series: [{label, col, color?, scale?, dash?, points?}],
 *    axes: [{scale, label, log?, side?}]}
 * Python decides what is plotted (harness/report/html.py, compare.py, history.py);
 * this file only knows how each kind of x axis reads:
 *   time  seconds since the run's start, shown as m:ss or h:mm:ss
 *   dist  HdrHistogram's log scale, x = 1/(1-percentile), shown as 90%, 99%, 99.9%
 *   rate  an offered rate (requests/s)
 *   runs  the index of a run, shown by its label
 * When every chart is on screen, document.body gets data-ready="1" and
 * window.reportReadyAt the time since navigation start (the browser tests and the
 * benchmark wait for it); a chart that fails says so in its place.
 */
(function () {
  "use strict";
  var PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  function elapsed(v) {
    if (v == null) return "";
    v = Math.round(v);
    var h = Math.floor(v / 3600), m = Math.floor((v % 3600) / 60), s = v % 60;
    var ss = (s < 10 ? "0" : "") + s;
    return h > 0 ? h + ":" + (m < 10 ? "0" : "") + m + ":" + ss : m + ":" + ss;
  }

  function percentile(v) {
    if (v == null) return "";
    if (v <= 1) return "0%";
    var p = 100 * (1 - 1 / v);
    var digits = Math.max(0, Math.ceil(Math.log10(v)) - 2);
    return p.toFixed(Math.min(digits, 6)) + "%";
  }

  function num(v) {
    if (v == null) return "–";
    var a = Math.abs(v);
    if (Number.isInteger(v)) return v.toLocaleString("en");
    if (a >= 1000) return Math.round(v).toLocaleString("en");
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    return String(parseFloat(v.toPrecision(3)));
  }

  function decades(u, axisIdx, min, max) {
    var out = [];
    for (var d = Math.floor(Math.log10(Math.max(min, 1))); Math.pow(10, d) <= max * 1.0001; d++) {
      var v = Math.pow(10, d);
      if (v >= min * 0.9999) out.push(v);
    }
    return out;
  }

  function xAxis(spec) {
    var axis = {scale: "x", grid: {stroke: "#eee"}};
    if (spec.kind === "time") {
      axis.values = function (u, splits) { return splits.map(elapsed); };
      axis.incrs = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400];
      axis.label = "time since start";
    } else if (spec.kind === "dist") {
      axis.splits = decades;
      axis.values = function (u, splits) { return splits.map(percentile); };
      axis.label = "percentile (log scale: 1/(1-p))";
    } else if (spec.kind === "runs") {
      var labels = spec.labels || [];
      axis.incrs = [1, 2, 5, 10, 20, 50, 100];
      axis.values = function (u, splits) {
        return splits.map(function (v) { return Number.isInteger(v) ? (labels[v] || "") : ""; });
      };
      axis.label = "run";
    } else {
      axis.values = function (u, splits) { return splits.map(num); };
      axis.label = spec.xLabel || "offered rate (requests/s)";
    }
    axis.labelSize = 20;
    return axis;
  }

  function xValue(spec) {
    if (spec.kind === "time") return function (u, v) { return elapsed(v); };
    if (spec.kind === "dist") return function (u, v) { return percentile(v); };
    if (spec.kind === "runs") {
      var labels = spec.labels || [];
      return function (u, v) { return v == null ? "" : (labels[v] || ""); };
    }
    return function (u, v) { return num(v); };
  }

  function options(spec, width) {
    var scales = {x: {time: false}};
    if (spec.kind === "dist") scales.x = {time: false, distr: 3, log: 10};
    var axes = [xAxis(spec)];
    (spec.axes || [{scale: "y", label: ""}]).forEach(function (a, i) {
      scales[a.scale] = a.log ? {distr: 3, log: 10} : {range: function (u, lo, hi) {
        return [Math.min(0, lo), hi > 0 ? hi * 1.05 : 1];
      }};
      axes.push({scale: a.scale, label: a.label, side: a.side || (i === 0 ? 3 : 1), labelSize: 20,
                 grid: {show: i === 0, stroke: "#eee"}, size: 60,
                 values: function (u, splits) { return splits.map(num); }});
    });
    var xNames = {time: "time", dist: "percentile", runs: "run", rate: "offered req/s"};
    var series = [{label: xNames[spec.kind] || "x", value: xValue(spec)}];
    spec.series.forEach(function (s, i) {
      series.push({
        label: s.label,
        scale: s.scale || (spec.axes ? spec.axes[0].scale : "y"),
        stroke: s.color || PALETTE[i % PALETTE.length],
        width: s.width || 1.5,
        dash: s.dash,
        spanGaps: spec.kind !== "time",
        points: {show: !!s.points, size: 6},
        value: function (u, v) { return num(v); }
      });
    });
    return {
      width: width, height: spec.height || 260, title: spec.title,
      scales: scales, axes: axes, series: series,
      cursor: spec.kind === "time" ? {sync: {key: "timeline"}} : {},
      legend: {live: true}
    };
  }

  function draw(spec, data, el) {
    var x = data.columns[spec.x];
    var aligned = [x];
    spec.series.forEach(function (s) {
      var col = data.columns[s.col];
      if (!col) throw new Error("no column " + s.col + " for chart " + spec.id);
      aligned.push(col);
    });
    var width = Math.max(320, el.clientWidth || 800);
    return new uPlot(options(spec, width), aligned, el);
  }

  function main() {
    var node = document.getElementById("report-data");
    if (!node) return;
    var data = JSON.parse(node.textContent);
    var plots = [];
    (data.charts || []).forEach(function (spec) {
      var el = document.getElementById(spec.id);
      if (!el) { console.error("no element for chart " + spec.id); return; }
      try {
        plots.push([draw(spec, data, el), el]);
        el.setAttribute("data-drawn", "1");
      } catch (e) {
        el.textContent = "This chart could not be drawn: " + e.message;
        console.error(e);
      }
    });
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        plots.forEach(function (p) {
          p[0].setSize({width: Math.max(320, p[1].clientWidth), height: p[0].height});
        });
      }, 150);
    });
    // uPlot commits its drawing in a microtask: mark the page ready after the next
    // frame, when every chart is on screen, not merely created.
    requestAnimationFrame(function () {
      setTimeout(function () {
        window.reportReadyAt = performance.now();
        document.body.setAttribute("data-ready", "1");
      }, 0);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main);
  else main();
})();
