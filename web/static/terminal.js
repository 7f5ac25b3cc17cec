// The browser terminal: xterm.js <-> WebSocket <-> the box's tmux session "claude".
//
// States (#term-state, its data-state): connecting, connected, reconnecting (a dropped or
// refused connection is tried again by itself, waiting 1, 2, 4 … up to 30 s) and
// disconnected (the server ended it for good: signed out, no access; or the Reconnect button
// was not pressed yet). The same xterm stays on the page across reconnects; tmux redraws it.
(function () {
  "use strict";
  var MIN_DELAY_MS = 1000;
  var MAX_DELAY_MS = 30000;
  //: A connection that lasted this long resets the backoff.
  var STABLE_MS = 10000;
  //: Close codes after which trying again cannot help (policy: signed out, no access).
  var FINAL = { 1008: true };

  function start() {
    var box = document.getElementById("terminal");
    var state = document.getElementById("term-state");
    var again = document.getElementById("term-reconnect");
    if (!box || box.dataset.started) return;
    box.dataset.started = "1";
    var term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000 });
    var fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(box);
    var ws = null;
    var delay = MIN_DELAY_MS;
    var timer = null;
    var openedAt = 0;
    //: For tests and curious users: the connection, its attempts and the states shown.
    var api = { term: term, ws: null, attempts: 0, states: [] };
    window.ccTerminal = api;

    function show(name, text) {
      state.dataset.state = name;
      if (api.states.length < 100) api.states.push(name);
      state.textContent = text;
      if (again) again.hidden = name === "connected" || name === "connecting";
    }

    function refit() {
      try { fit.fit(); } catch (e) { /* not laid out yet: the next resize fits it */ }
    }

    function connect() {
      if (timer !== null) { clearTimeout(timer); timer = null; }
      if (ws !== null && ws.readyState <= WebSocket.OPEN) return;
      refit();
      show(api.attempts ? "reconnecting" : "connecting", api.attempts ? "reconnecting…" : "connecting…");
      api.attempts += 1;
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var cols = term.cols || 80, rows = term.rows || 24;
      var url = scheme + location.host + box.dataset.ws + "?cols=" + cols + "&rows=" + rows;
      var sock = new WebSocket(url);
      sock.binaryType = "arraybuffer";
      ws = sock;
      api.ws = sock;
      sock.onopen = function () {
        openedAt = Date.now();
        show("connected", "connected");
        refit();
        term.focus();
      };
      sock.onmessage = function (ev) {
        if (typeof ev.data === "string") term.write(ev.data);
        else term.write(new Uint8Array(ev.data));
      };
      sock.onclose = function (ev) {
        if (ws !== sock) return;
        ws = null;
        var reason = ev.reason ? ": " + ev.reason : "";
        if (FINAL[ev.code]) {
          show("disconnected", "disconnected" + reason);
          return;
        }
        if (openedAt && Date.now() - openedAt >= STABLE_MS) delay = MIN_DELAY_MS;
        openedAt = 0;
        var wait = delay;
        delay = Math.min(delay * 2, MAX_DELAY_MS);
        show("reconnecting", "disconnected" + reason + "; reconnecting in " + Math.round(wait / 1000) + " s…");
        timer = setTimeout(connect, wait);
      };
    }

    function send(message) {
      if (ws !== null && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
    }

    term.onData(function (data) { send({ type: "input", data: data }); });
    term.onResize(function (size) { send({ type: "resize", cols: size.cols, rows: size.rows }); });
    window.addEventListener("resize", refit);
    if (again) {
      again.addEventListener("click", function () { delay = MIN_DELAY_MS; connect(); });
    }
    // Back online, or the tab shown again: no need to wait out the backoff.
    window.addEventListener("online", function () { if (timer !== null) connect(); });
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && timer !== null) connect();
    });
    // Fit once laid out (fonts and the stylesheet applied), so the first size sent is right.
    requestAnimationFrame(function () { refit(); connect(); });
  }

  function whenReady() {
    if (typeof Terminal === "undefined" || typeof FitAddon === "undefined") {
      window.addEventListener("load", start);  // the vendor scripts are still loading
    } else {
      start();
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", whenReady);
  else whenReady();
})();
