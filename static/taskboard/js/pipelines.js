// Pipeline editor: show the task settings only for task nodes. Works again after htmx swaps.
(function () {
  function sync(root) {
    root.querySelectorAll("form").forEach(function (form) {
      var kind = form.querySelector("select[name$='kind']");
      var task = form.querySelector("fieldset.task-only");
      if (!kind || !task) return;
      task.hidden = kind.value === "dataset";
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[name$='kind']")) sync(document);
  });
  document.addEventListener("DOMContentLoaded", function () { sync(document); });
  document.addEventListener("htmx:afterSettle", function () { sync(document); });
})();
