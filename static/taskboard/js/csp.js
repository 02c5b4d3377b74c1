/* Data-driven widths and colours without inline style attributes, which the Content-Security-Policy
   (style-src 'self') blocks: templates write data-pct="37" and data-bg="#1f77b4" and this applies them
   through the CSSOM, on load and on every htmx swap. Values are checked before use. */
(function () {
  "use strict";
  var HEX = /^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$/;

  function apply(root) {
    if (!root || !root.querySelectorAll) return;
    var nodes = Array.prototype.slice.call(root.querySelectorAll("[data-pct], [data-bg]"));
    if (root.matches && root.matches("[data-pct], [data-bg]")) nodes.push(root);
    nodes.forEach(function (el) {
      var pct = el.getAttribute("data-pct");
      if (pct !== null) {
        var n = parseFloat(pct);
        if (isFinite(n)) el.style.width = Math.max(0, Math.min(100, n)) + "%";
      }
      var bg = el.getAttribute("data-bg");
      if (bg !== null && HEX.test(bg)) el.style.backgroundColor = bg;
    });
  }

  document.addEventListener("htmx:load", function (event) { apply(event.target); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { apply(document); });
  } else {
    apply(document);
  }
})();
