// herald's console script: progressive enhancement only. Every action is a plain form that
// works without it; this adds local times beside the UTC ones and refreshes a page that is
// waiting on a delivery. It never inserts markup, only text, so alert data stays text.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (!isNaN(d)) {
      el.title = el.textContent;
      el.textContent = d.toLocaleString();
    }
  });
  var waiting = document.querySelector("[data-refresh]");
  if (waiting) {
    var seconds = Number(waiting.getAttribute("data-refresh")) || 2;
    setTimeout(function () { window.location.reload(); }, seconds * 1000);
  }
});
