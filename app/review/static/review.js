// Keyboard shortcuts of the review UI (no framework, no build step).
(function () {
  "use strict";
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }
  function go(sel) { var a = document.querySelector(sel); if (a && a.href) { window.location.href = a.href; return true; } return false; }
  var page = document.body.getAttribute("data-page");
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.row"));
  var sel = rows.length ? 0 : -1;
  function mark() { rows.forEach(function (r, i) { r.classList.toggle("selected", i === sel); }); }
  if (page === "queue") { mark(); }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (ev.key === "Escape" && typing(document.activeElement)) { document.activeElement.blur(); return; }
    if (typing(document.activeElement)) { return; }
    var k = ev.key;
    if (k === "q") { window.location.href = "/review/queue"; }
    else if (page === "queue" && (k === "j" || k === "k") && rows.length) {
      sel = Math.max(0, Math.min(rows.length - 1, sel + (k === "j" ? 1 : -1))); mark();
      rows[sel].scrollIntoView({block: "nearest"});
    } else if (page === "queue" && k === "Enter" && sel >= 0) { window.location.href = rows[sel].getAttribute("data-href"); }
    else if (page === "queue" && k === "/") { var f = document.querySelector("#filters select"); if (f) { f.focus(); ev.preventDefault(); } }
    else if (page === "item" && k === "c") { var c = document.getElementById("confirm-form"); if (c) { ev.preventDefault(); c.submit(); } }
    else if (page === "item" && k === "o") { var r = document.getElementById("overturn-reason"); if (r) { ev.preventDefault(); r.focus(); } }
    else if (page === "item" && k === "n") { go("#next"); }
    else if (page === "item" && k === "s") { go("#seller-link"); }
    else { return; }
  });
  // clicking a row in the queue opens it
  rows.forEach(function (r) {
    r.addEventListener("click", function (ev) { if (ev.target.tagName !== "A") { window.location.href = r.getAttribute("data-href"); } });
  });
})();
