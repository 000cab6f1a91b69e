// smspipe ops page: refresh the live part in place, and replay dead letters through the admin API.
// Plain script, no dependencies: the page must work offline.
(function () {
  "use strict";

  var token = document.querySelector('meta[name="smspipe-admin-token"]').content;
  var refreshSeconds = Number(document.querySelector('meta[name="smspipe-refresh-seconds"]').content) || 3;
  var live = document.getElementById("live");
  var state = document.getElementById("refresh-state");
  var flash = document.getElementById("flash");

  function headers() {
    return token ? { Authorization: "Bearer " + token } : {};
  }

  function show(message, bad) {
    flash.textContent = message;
    flash.className = bad ? "bad" : "ok";
    flash.hidden = false;
  }

  function refresh() {
    return fetch("/ops/live", { headers: headers(), credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        live.innerHTML = html;
        state.textContent = "live · every " + refreshSeconds + "s";
        state.className = "";
      })
      .catch(function (error) {
        state.textContent = "refresh failed (" + error.message + "), retrying";
        state.className = "bad";
      });
  }

  function replay(button) {
    var id = button.getAttribute("data-replay-id");
    button.disabled = true;
    button.textContent = "Replaying…";
    fetch("/api/v1/dead-letters/" + encodeURIComponent(id) + "/replay", {
      method: "POST", headers: headers(), credentials: "same-origin"
    })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (answer) {
        if (!answer.ok) { throw new Error(answer.body.error || "replay refused"); }
        show("Dead letter " + id + " replayed as " + (answer.body.ingest_id || "a new webhook") + ".", false);
        return refresh();
      })
      .catch(function (error) {
        button.disabled = false;
        button.textContent = "Replay";
        show("Replay of dead letter " + id + " failed: " + error.message, true);
      });
  }

  live.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-replay-id]");
    if (button) { replay(button); }
  });

  setInterval(refresh, refreshSeconds * 1000);
})();
