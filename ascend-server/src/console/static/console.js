// Ascend console: progressive enhancement only. Every page works without this script; it makes
// the queue and the kill switch banner live (the console's push stream, /console/events, with
// polling as a fallback) and keeps the "time left" of pending actions current.
"use strict";

(function () {
  function fragment(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    return t.content.firstElementChild;
  }

  function fetchFragment(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (r.redirected && r.url.indexOf("/console/sign-in") !== -1) {
        window.location.assign("/console/sign-in");
        throw new Error("signed out");
      }
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.text();
    });
  }

  // One refresh at a time; a request made meanwhile runs once more afterwards.
  function serial(run) {
    var busy = false, again = false;
    function go() {
      if (busy) { again = true; return; }
      busy = true;
      run().catch(function () {}).then(function () {
        busy = false;
        if (again) { again = false; go(); }
      });
    }
    return go;
  }

  var refreshQueue = serial(function () {
    var old = document.getElementById("queue-items");
    if (!old) return Promise.resolve();
    return fetchFragment("/console/queue/items").then(function (html) {
      var fresh = fragment(html);
      if (!fresh) return;
      var kept = {};
      old.querySelectorAll("[data-action-id]").forEach(function (n) {
        kept[n.getAttribute("data-action-id")] = n;
      });
      var nodes = [];
      Array.prototype.forEach.call(fresh.children, function (n) {
        var id = n.getAttribute("data-action-id");
        // Keep the card already shown (and any comment being typed in it).
        nodes.push(id && kept[id] ? kept[id] : n);
      });
      old.replaceChildren.apply(old, nodes);
      old.setAttribute("data-count", fresh.getAttribute("data-count") || "0");
      tick();
    });
  });

  var refreshBanner = serial(function () {
    var old = document.getElementById("kill-banner");
    if (!old) return Promise.resolve();
    return fetchFragment("/console/banner").then(function (html) {
      var fresh = fragment(html);
      if (fresh) old.replaceWith(fresh);
    });
  });

  function left(seconds) {
    if (seconds <= 0) return "expired";
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var pad = function (n) { return n < 10 ? "0" + n : "" + n; };
    return h > 0 ? h + "h " + pad(m) + "m" : m + "m " + pad(s) + "s";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-expires]").forEach(function (n) {
      var at = Date.parse(n.getAttribute("data-expires"));
      if (!isNaN(at)) n.textContent = left(Math.floor((at - now) / 1000));
    });
  }

  function setLive(text) {
    var n = document.getElementById("live-state");
    if (n) n.textContent = text;
  }

  var polling = null;
  function poll() {
    if (polling) return;
    setLive("polling every second (push stream unavailable)");
    polling = window.setInterval(function () { refreshQueue(); refreshBanner(); }, 1000);
  }

  function connect() {
    if (!window.EventSource) { poll(); return; }
    var es = new EventSource("/console/events");
    var onQueue = function () { refreshQueue(); };
    es.addEventListener("hello", function () {
      setLive("live");
      if (polling) { window.clearInterval(polling); polling = null; }
      // Catch up on anything that happened while (re)connecting.
      refreshQueue();
      refreshBanner();
    });
    es.addEventListener("pending", onQueue);
    es.addEventListener("decision", onQueue);
    es.addEventListener("resync", function () { refreshQueue(); refreshBanner(); });
    es.addEventListener("kill_switch", function () { refreshBanner(); refreshQueue(); });
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) poll();
      else setLive("reconnecting");
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!document.getElementById("kill-banner")) return; // signed-out pages
    tick();
    window.setInterval(tick, 1000);
    connect();
  });
})();
