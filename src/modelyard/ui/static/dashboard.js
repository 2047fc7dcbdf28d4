/* The dashboard's only script besides htmx and plotly: it draws the charts whose specs a page
   hands over as JSON (<script type="application/json" class="plot-specs">, never as code), and
   sends the page's CSRF token with every htmx request. */
(function () {
  "use strict";

  function draw(root) {
    if (!window.Plotly) { return; }
    root.querySelectorAll('script[type="application/json"].plot-specs').forEach(function (el) {
      JSON.parse(el.textContent).forEach(function (spec) {
        var div = document.getElementById(spec.id);
        if (div) {
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
})();
