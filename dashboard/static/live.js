// live.js: follows the log of a run in progress (server-sent events) on
// its page; the page reloads when the run ends. Without it, the page
// shows the log as it was and a reload link.
(function () {
  var pre = document.getElementById("live");
  if (!pre || !window.EventSource) return;
  var es = new EventSource(pre.getAttribute("data-events"));
  es.onmessage = function (e) { pre.textContent += e.data + "\n"; };
  es.addEventListener("done", function () { es.close(); window.location.reload(); });
})();
