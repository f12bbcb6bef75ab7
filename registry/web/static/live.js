// Refresh the sections when the server says the database changed (native EventSource, no reload).
(function () {
  var main = document.getElementById("sections");
  var src = new EventSource("/events");
  src.addEventListener("changed", function () {
    fetch("/fragment?lang=" + main.dataset.lang).then(function (r) { return r.text(); })
      .then(function (html) { main.innerHTML = html; });
  });
})();
