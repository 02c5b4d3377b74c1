/* Work view: keyboard shortcuts, label colours and active-time heartbeats. No inline script (CSP). */
(function () {
  "use strict";

  // Colours come from data attributes so templates carry no inline style.
  document.querySelectorAll("[data-color]").forEach(function (el) {
    var color = el.getAttribute("data-color");
    if (!/^#[0-9a-fA-F]{6}$/.test(color)) return;
    if (el.classList.contains("swatch")) el.style.backgroundColor = color;
    else el.style.borderColor = color;
  });

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function press(key) {
    var el = document.querySelector('[data-shortcut="' + key + '"]');
    if (!el || el.disabled) return false;
    el.click();
    return true;
  }

  // Zoom: "Fit" shows the whole picture as large as the stage allows; each step in doubles it up to 8×,
  // and the view scrolls (by mouse, touch or arrow keys once focused).
  var view = document.querySelector(".image-view");
  var image = view && view.querySelector("img");
  var level = document.querySelector(".zoom-level");
  var zoom = 1;
  function setZoom(next) {
    if (!image) return;
    zoom = Math.max(1, Math.min(8, next));
    view.classList.toggle("zoomed", zoom > 1);
    image.style.width = zoom > 1 ? zoom * 100 + "%" : "";
    if (level) level.textContent = zoom > 1 ? zoom * 100 + "%" : "Fitted";
  }
  document.querySelectorAll("[data-zoom]").forEach(function (button) {
    button.addEventListener("click", function () {
      var how = button.getAttribute("data-zoom");
      setZoom(how === "in" ? zoom * 2 : how === "out" ? zoom / 2 : 1);
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    var key = event.key;
    // Arrow keys scroll a zoomed picture that has the focus, instead of changing item.
    if (view && zoom > 1 && event.target === view && /^Arrow/.test(key)) return;
    if (key === "=") key = "+";  // the unshifted plus key
    if (key === "ArrowRight") key = "n";
    else if (key === "ArrowLeft") key = "p";
    else key = key.toLowerCase();
    if (key === "r") {
      var comment = document.getElementById("reject-comment");
      if (comment) {
        event.preventDefault();
        comment.focus();
      }
      return;
    }
    if (press(key)) event.preventDefault();
  });

  // Active time: the page reports signs of activity (a key, a click, a scroll; at most one every
  // 2 s) and the server counts the gaps between them up to the project's idle cut-off. Each mark is
  // sent as "milliseconds ago", so a wrong clock on this machine changes nothing. Reports go every
  // 15 s and when leaving the page; a hidden tab makes no marks. When the tab is hidden or another
  // window takes the focus, a last report ends the span at the last input: the time until the
  // person comes back is not work on the item, however short (quality/activity.py).
  var work = document.getElementById("work");
  if (!work || !work.getAttribute("data-record")) return;
  var url = work.getAttribute("data-beat-url");
  var tokenInput = work.querySelector("input[name=csrfmiddlewaretoken]");
  var token = tokenInput ? tokenInput.value : "";
  var MARK_EVERY_MS = 2000;
  var marks = [];
  var lastMark = 0;
  var lastInput = 0;
  var spanOpen = false;

  function mark() {
    if (document.visibilityState !== "visible") return;
    var now = Date.now();
    lastInput = now;
    spanOpen = true;
    if (now - lastMark >= MARK_EVERY_MS) {
      marks.push(now);
      lastMark = now;
    }
  }

  ["keydown", "mousemove", "mousedown", "wheel", "touchstart", "scroll"].forEach(function (name) {
    window.addEventListener(name, mark, { passive: true });
  });

  function payload(ends) {
    // The last input since the last mark closes the span exactly.
    if (lastInput > lastMark) { marks.push(lastInput); lastMark = lastInput; }
    var now = Date.now();
    var ages = marks.map(function (at) { return Math.max(0, now - at); });
    marks = [];
    var data = new FormData();
    data.append("csrfmiddlewaretoken", token);
    data.append("marks", ages.join(","));
    if (ends) data.append("ended", String(Math.max(0, now - lastInput)));
    return data;
  }

  function send(data, leaving) {
    if (leaving && navigator.sendBeacon) {
      navigator.sendBeacon(url, data);
    } else {
      fetch(url, { method: "POST", body: data, credentials: "same-origin", keepalive: !!leaving });
    }
  }

  function beat(leaving) {
    if (!marks.length && lastInput <= lastMark) return;
    send(payload(false), leaving);
  }

  function endSpan() {
    // Once per span: blur and hidden both come when the person switches tabs.
    if (!spanOpen) return;
    spanOpen = false;
    send(payload(true), true);
  }

  mark(); // opening an item is activity
  setInterval(function () { beat(false); }, 15000);
  window.addEventListener("pagehide", function () { beat(true); });
  window.addEventListener("blur", endSpan);
  window.addEventListener("focus", mark);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") endSpan();
    else mark();
  });
})();
