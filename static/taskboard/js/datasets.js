// Item browser: ticks survive paging and filtering (kept per dataset in sessionStorage),
// "tick this page", and a count of what is ticked. Without JavaScript the ticks on the
// current page are submitted as plain checkboxes.
(function () {
  "use strict";

  function storeKey(form) { return "taskboard-ticked-" + form.dataset.dataset; }

  function load(form) {
    try { return new Set(JSON.parse(sessionStorage.getItem(storeKey(form)) || "[]")); }
    catch (e) { return new Set(); }
  }

  function save(form, ticked) {
    try { sessionStorage.setItem(storeKey(form), JSON.stringify(Array.from(ticked))); } catch (e) { /* private mode */ }
  }

  function update(form) {
    if (!form) return;
    var ticked = load(form);
    var picks = form.querySelectorAll("input.pick");
    var onPage = 0;
    picks.forEach(function (box) {
      box.checked = ticked.has(box.value);
      if (box.checked) onPage += 1;
    });
    var counter = form.querySelector(".picked-count");
    if (counter) {
      counter.textContent = ticked.size ? ticked.size + " ticked" : "";
      var clear = form.querySelector(".clear-ticks");
      if (clear) clear.hidden = ticked.size === 0;
    }
    var all = form.querySelector("input.check-page");
    if (all) {
      all.checked = picks.length > 0 && onPage === picks.length;
      all.indeterminate = onPage > 0 && onPage < picks.length;
    }
    var button = form.querySelector('button[value="checked"]');
    if (button) button.disabled = ticked.size === 0;
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    var form = target.closest && target.closest("#selection-form");
    if (!form) return;
    var ticked = load(form);
    var boxes = target.classList.contains("check-page") ? form.querySelectorAll("input.pick") : [target];
    if (target.classList.contains("check-page") || target.classList.contains("pick")) {
      boxes.forEach(function (box) {
        if (target.checked) ticked.add(box.value); else ticked.delete(box.value);
      });
      save(form, ticked);
    }
    update(form);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".clear-ticks");
    if (!button) return;
    var form = button.closest("#selection-form");
    save(form, new Set());
    update(form);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "selection-form" || !event.submitter || event.submitter.value !== "checked") return;
    // Ticks from other pages travel as hidden fields beside this page's checkboxes.
    var onPage = new Set(Array.from(form.querySelectorAll("input.pick")).map(function (b) { return b.value; }));
    load(form).forEach(function (id) {
      if (onPage.has(id)) return;
      var input = document.createElement("input");
      input.type = "hidden"; input.name = "item"; input.value = id;
      form.appendChild(input);
    });
    save(form, new Set());
  });

  function init() { update(document.getElementById("selection-form")); }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSwap", init);
})();
