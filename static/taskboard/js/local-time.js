/* Every moment on a page is a <time data-local> written by the `when` filter: its text becomes the
   reader's locale and time zone; the ISO 8601 moment stays in its title (on hover). */
(function () {
  "use strict";
  var FORMATS = {
    datetime: { dateStyle: "medium", timeStyle: "short" },
    date: { dateStyle: "medium" },
    time: { timeStyle: "medium" },
  };

  function localise(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var style = FORMATS[el.getAttribute("data-local")];
      var iso = el.getAttribute("datetime");
      if (!style || !iso) return;
      // A bare date is a calendar day, not a moment: read it at local midnight, never shifted a day.
      var moment = /^\d{4}-\d{2}-\d{2}$/.test(iso) ? new Date(iso + "T00:00:00") : new Date(iso);
      if (isNaN(moment.getTime())) return;
      el.textContent = new Intl.DateTimeFormat(undefined, style).format(moment);
    });
  }

  document.addEventListener("htmx:load", function (event) { localise(event.target); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { localise(document); });
  } else {
    localise(document);
  }
})();
