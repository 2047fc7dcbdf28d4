/* The dashboard's only script besides htmx and plotly: it draws the charts whose specs a page
   hands over as JSON (<script type="application/json" class="plot-specs">, never as code),
   sends the page's CSRF token with every htmx request, and adds one keyboard shortcut:
   "/" focuses the page's search box. */
(function () {
  "use strict";

  function draw(root) {
    if (!window.Plotly) { return; }
    root.querySelectorAll('script[type="application/json"].plot-specs').forEach(function (el) {
      JSON.parse(el.textContent).forEach(function (spec) {
        var div = document.getElementById(spec.id);
        if (div && !div.classList.contains("js-plotly-plot")) {
          Plotly.newPlot(div, spec.data, spec.layout, {displayModeBar: false, responsive: true});
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (event) { draw(event.detail.target); });
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { event.detail.headers["X-CSRF-Token"] = meta.content; }
  });
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" ||
                            target.tagName === "SELECT" || target.isContentEditable);
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      var box = document.querySelector('[data-shortcut="/"]');
      if (box) { event.preventDefault(); box.focus(); }
    }
  });
})();
