// Tensorgate console behaviour, so that no page needs an inline script
// (the pages' Content-Security-Policy allows scripts from the node only):
// charts drawn from data attributes, copy buttons and confirmations.
(function () {
  "use strict";
  var colors = ["#2f6fed", "#d64545", "#8a5cf6"];

  // <div data-chart="[[times...], [values...], ...]" data-labels='["a", ...]'
  //      data-colors='["#...", ...]' data-height="240" data-time="Time">
  function charts() {
    if (!window.uPlot) { return; }
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      try { draw(el); } catch (e) { console.error("chart", el.id, e); }
    });
  }

  function draw(el) {
    var data = JSON.parse(el.dataset.chart);
    if (!data[0] || !data[0].length) { return; }
    var labels = JSON.parse(el.dataset.labels || "[]");
    var own = JSON.parse(el.dataset.colors || "[]");
    var series = [el.dataset.time ? {label: el.dataset.time} : {}];
    labels.forEach(function (label, i) {
      var s = {label: label, stroke: own[i] || colors[i % colors.length]};
      if (i === 0 && !own.length) { s.fill = "rgba(47,111,237,.12)"; }
      series.push(s);
    });
    new uPlot({width: el.clientWidth || 800, height: Number(el.dataset.height) || 240, series: series, axes: [{}, {}]}, data, el);
  }

  // <button data-copy="element-id">: copies that element's text.
  document.addEventListener("click", function (e) {
    var b = e.target.closest("[data-copy]");
    var src = b && document.getElementById(b.dataset.copy);
    if (src && navigator.clipboard) { navigator.clipboard.writeText(src.textContent); }
  });

  // <form data-confirm="question">: submitted only when confirmed.
  document.addEventListener("submit", function (e) {
    var f = e.target.closest("form[data-confirm]");
    if (f && !window.confirm(f.dataset.confirm)) { e.preventDefault(); }
  });

  document.addEventListener("DOMContentLoaded", charts);
})();
