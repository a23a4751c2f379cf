// vigie's pages work without this file; with it, the range and refresh
// selects apply at once and the page reloads itself every "refresh" seconds.
(function () {
  "use strict";
  var form = document.getElementById("range-form");
  if (form) {
    ["range", "refresh"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { el.addEventListener("change", function () { form.submit(); }); }
    });
  }
  var secs = parseInt(document.body.getAttribute("data-refresh") || "", 10);
  if (secs >= 5) {
    setTimeout(function () {
      // Do not reload while someone is typing in a form.
      var a = document.activeElement;
      if (a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA")) { return; }
      location.reload();
    }, secs * 1000);
  }
})();
