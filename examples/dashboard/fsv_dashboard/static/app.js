// The dashboard's own script: small, no build step, no polling.
// htmx swaps the server-rendered fragments of the page's one SSE stream; this
// file only draws the chart, keeps ticked boxes across live row swaps, keeps
// unsaved config edits from being replaced by a live update, asks before
// destructive form posts (data-confirm), and shows a banner while the stream
// reconnects.
(function () {
  "use strict";

  var charts = {};

  function css(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function readData(id) {
    var node = document.getElementById(id);
    if (!node) return null;
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  // Every <canvas data-source="ID"> draws the JSON of element ID:
  // {type, stacked, labels, series: [{label, color (a CSS variable), data}]}.
  function drawChart(canvas) {
    var data = readData(canvas.dataset.source);
    if (!data || typeof Chart === "undefined") return;
    var datasets = data.series.map(function (s) {
      var color = css(s.color, "#888");
      return { label: s.label, data: s.data, backgroundColor: color, borderColor: color,
               pointRadius: 0, tension: 0.2 };
    });
    var chart = charts[canvas.id];
    if (chart) {
      chart.data.labels = data.labels;
      chart.data.datasets.forEach(function (set, i) { set.data = datasets[i].data; });
      chart.update("none");
      return;
    }
    Chart.defaults.color = css("--muted", "#666");
    Chart.defaults.borderColor = css("--line", "#ddd");
    charts[canvas.id] = new Chart(canvas, {
      type: data.type || "bar",
      data: { labels: data.labels, datasets: datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: { x: { stacked: !!data.stacked },
                  y: { stacked: !!data.stacked, beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: "bottom" } }
      }
    });
  }

  function drawCharts(sourceId) {
    var selector = sourceId ? "canvas[data-source='" + sourceId + "']" : "canvas[data-source]";
    Array.prototype.forEach.call(document.querySelectorAll(selector), drawChart);
  }

  var paused = false;
  document.addEventListener("click", function (event) {
    var button = event.target;
    if (!button || button.id !== "pause") return;
    paused = !paused;
    button.textContent = paused ? "Resume" : "Pause";
    button.setAttribute("aria-pressed", String(paused));
    var note = document.getElementById("paused-note");
    if (note) note.hidden = !paused;
    // Resuming shows the state of the next event; every event carries the whole list.
  });

  // The config form: once edited here, live updates no longer replace its fields
  // (the edits are kept); a banner says the settings changed elsewhere.
  function configDirty() {
    var state = document.querySelector("#config-fields .config-state");
    return !!(state && state.dataset.dirty === "true");
  }
  document.addEventListener("input", function (event) {
    var target = event.target;
    if (!target || !target.closest || !target.closest("#config-form")) return;
    var state = document.querySelector("#config-fields .config-state");
    if (state) state.dataset.dirty = "true";
  });

  // <form data-confirm="Question?">: ask before posting (no inline script under the CSP).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }, true);

  // Tables with data-keep-edits (the admins' role pickers): a live swap keeps a choice
  // made here but not yet submitted, unless the server's value changed meanwhile.
  var edits = null;
  function keepEdits(target) {
    edits = [];
    Array.prototype.forEach.call(target.querySelectorAll("select"), function (select) {
      var row = select.closest("[data-uid]");
      var initial = Array.prototype.filter.call(select.options, function (o) {
        return o.defaultSelected; })[0];
      if (row && initial && select.value !== initial.value) {
        edits.push({ uid: row.dataset.uid, name: select.name, value: select.value,
                     initial: initial.value });
      }
    });
  }
  function restoreEdits(target) {
    (edits || []).forEach(function (edit) {
      Array.prototype.forEach.call(target.querySelectorAll("[data-uid]"), function (row) {
        if (row.dataset.uid !== edit.uid) return;
        var select = row.querySelector("select[name='" + edit.name + "']");
        var initial = select && Array.prototype.filter.call(select.options, function (o) {
          return o.defaultSelected; })[0];
        if (initial && initial.value === edit.initial) select.value = edit.value;
      });
    });
    edits = null;
  }

  var checked = null;
  var configLast = null;
  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    if (paused && event.target && event.target.id === "log-feed") {
      event.preventDefault();
      return;
    }
    if (event.target && event.target.id === "config-fields") {
      // Every (re)connect first sends the current state: only a different one is news.
      var data = event.detail && event.detail.data;
      var changed = configLast !== null && data !== configLast;
      configLast = data;
      if (configDirty()) {
        event.preventDefault();
        var stale = document.getElementById("config-stale");
        if (stale && changed) stale.hidden = false;
        return;
      }
    }
    if (event.target && event.target.hasAttribute && event.target.hasAttribute("data-keep-edits")) {
      keepEdits(event.target);
    }
    if (event.target && event.target.id === "group-rows") {
      checked = Array.prototype.map.call(
        event.target.querySelectorAll("input[type=checkbox]:checked"),
        function (box) { return box.value; });
    }
  });
  document.addEventListener("htmx:sseMessage", function (event) {
    var target = event.target;
    if (!target) return;
    if (target.id && document.querySelector("canvas[data-source='" + target.id + "']")) drawCharts(target.id);
    if (edits && target.hasAttribute && target.hasAttribute("data-keep-edits")) restoreEdits(target);
    if (target.id === "group-rows" && checked) {
      checked.forEach(function (value) {
        var box = target.querySelector("input[type=checkbox][value='" + value + "']");
        if (box) box.checked = true;
      });
      checked = null;
    }
  });

  var banner = function () { return document.getElementById("live-status"); };
  document.addEventListener("htmx:sseError", function () {
    var node = banner(); if (node) node.hidden = false;
  });
  document.addEventListener("htmx:sseOpen", function () {
    var node = banner(); if (node) node.hidden = true;
    document.documentElement.dataset.live = "open";
  });

  document.addEventListener("DOMContentLoaded", function () { drawCharts(null); });
})();
