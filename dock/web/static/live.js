// Fetch the bays' rows again whenever the server says the journal grew (native EventSource).
(function () {
  var box = document.getElementById("bays");
  if (!box) { return; }
  var source = new EventSource("/events");
  source.addEventListener("changed", function () {
    fetch(box.dataset.rows, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { box.innerHTML = html; } });
  });
})();
