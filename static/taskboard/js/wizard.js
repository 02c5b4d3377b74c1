// The wizard's small helpers: the live workload sum, "split equally", and forms that submit once.
(function () {
  "use strict";

  function checkedLoads(editor) {
    var rows = editor.querySelectorAll("tbody tr");
    var picked = [];
    rows.forEach(function (row) {
      var box = row.querySelector("input[type=checkbox]");
      var load = row.querySelector("input.load");
      if (box && load) picked.push({ box: box, load: load });
    });
    return picked;
  }

  function updateSum(editor) {
    var out = editor.querySelector("#load-sum");
    if (!out) return;
    var sum = 0;
    checkedLoads(editor).forEach(function (p) {
      if (p.box.checked) sum += parseInt(p.load.value, 10) || 0;
    });
    out.classList.toggle("ok", sum === 100);
    out.classList.toggle("bad", sum !== 100);
    out.innerHTML = "Sum: <strong>" + sum + "</strong>%" + (sum === 100 ? "" : ' <span class="help">(must be 100)</span>');
  }

  function splitEqually(editor) {
    var picked = checkedLoads(editor).filter(function (p) { return p.box.checked; });
    var n = picked.length;
    if (!n) return;
    var base = Math.floor(100 / n), extra = 100 % n;
    checkedLoads(editor).forEach(function (p) { if (!p.box.checked) p.load.value = ""; });
    picked.forEach(function (p, i) { p.load.value = base + (i < extra ? 1 : 0); });
    var custom = editor.querySelector("input[name=split][value=custom]");
    if (custom) custom.checked = true;
    updateSum(editor);
    // Let the as-you-type validation see the new values.
    picked[0].load.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function init(root) {
    root.querySelectorAll("[data-workload-editor]").forEach(function (editor) {
      if (editor.dataset.ready) return;
      editor.dataset.ready = "1";
      editor.addEventListener("input", function () { updateSum(editor); });
      editor.addEventListener("change", function () { updateSum(editor); });
      var button = editor.querySelector("[data-split-equally]");
      if (button) button.addEventListener("click", function () { splitEqually(editor); });
    });
    root.querySelectorAll("form[data-submit-once]").forEach(function (form) {
      if (form.dataset.ready) return;
      form.dataset.ready = "1";
      form.addEventListener("submit", function (event) {
        if (form.dataset.submitted) { event.preventDefault(); return; }
        form.dataset.submitted = "1";
        // Disabled after the submit event has collected the form data.
        setTimeout(function () {
          form.querySelectorAll("button[type=submit]").forEach(function (b) {
            b.disabled = true;
            if (b.classList.contains("create")) b.textContent = "Creating…";
          });
        }, 0);
      });
    });
  }

  // Which fields the person has touched: the as-you-type check shows only their errors (the field
  // being typed in, never the ones not reached yet); "Next" shows them all.
  function touch(event) {
    var field = event.target;
    var form = field.closest && field.closest("form[hx-post]");
    if (!form || !field.name || field.name === "_touched") return;
    var box = form.querySelector("input[name=_touched]");
    if (!box) {
      box = document.createElement("input");
      box.type = "hidden"; box.name = "_touched";
      form.appendChild(box);
    }
    var names = box.value ? box.value.split(",") : [];
    if (names.indexOf(field.name) < 0) { names.push(field.name); box.value = names.join(","); }
  }
  document.addEventListener("input", touch, true);
  document.addEventListener("change", touch, true);

  // A control whose error box holds a message is invalid (aria-invalid), and stops being so once it is empty.
  function markInvalid() {
    document.querySelectorAll(".field-error[id^='err-']").forEach(function (box) {
      var invalid = box.textContent.trim() !== "";
      document.querySelectorAll("[aria-describedby~='" + box.id + "']").forEach(function (control) {
        if (invalid) control.setAttribute("aria-invalid", "true"); else control.removeAttribute("aria-invalid");
      });
    });
  }
  document.addEventListener("htmx:oobAfterSwap", markInvalid);
  document.addEventListener("htmx:afterSettle", markInvalid);

  // A form on its way to the server needs no as-you-type check any more: leaving a field by
  // clicking "Next" fires a (delayed) change check, which is dropped here instead of racing the submit.
  document.addEventListener("submit", function (event) {
    if (event.target.matches("form[hx-post]")) event.target.dataset.submitting = "1";
  }, true);
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    if (form && form.dataset.submitting) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
  // Back/forward cache: a page restored from history must be clickable again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form[hx-post]").forEach(function (form) { delete form.dataset.submitting; });
    document.querySelectorAll("form[data-submit-once]").forEach(function (form) {
      delete form.dataset.submitted;
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
    });
  });
})();
