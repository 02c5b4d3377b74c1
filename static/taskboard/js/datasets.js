// Item browser: tick every item on the page, and show how many are ticked.
// Delegated on document because htmx replaces #item-list.
(function () {
  "use strict";

  function update(form) {
    if (!form) return;
    var picks = form.querySelectorAll("input.pick");
    var ticked = form.querySelectorAll("input.pick:checked").length;
    var counter = form.querySelector(".picked-count");
    if (counter) counter.textContent = ticked ? ticked + " ticked" : "";
    var all = form.querySelector("input.check-page");
    if (all) {
      all.checked = picks.length > 0 && ticked === picks.length;
      all.indeterminate = ticked > 0 && ticked < picks.length;
    }
    var button = form.querySelector('button[value="checked"]');
    if (button) button.disabled = ticked === 0;
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    var form = target.closest && target.closest("#selection-form");
    if (!form) return;
    if (target.classList.contains("check-page")) {
      form.querySelectorAll("input.pick").forEach(function (box) { box.checked = target.checked; });
    }
    update(form);
  });

  function init() { update(document.getElementById("selection-form")); }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSwap", init);
})();
