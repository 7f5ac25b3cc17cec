// The browser terminal: xterm.js <-> WebSocket <-> the box's tmux session "claude".
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("terminal");
    var state = document.getElementById("term-state");
    var term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000 });
    var fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(box);
    fit.fit();
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + location.host + box.dataset.ws + "?cols=" + term.cols + "&rows=" + term.rows;
    var ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    window.ccTerminal = { term: term, ws: ws };
    ws.onopen = function () { state.textContent = "connected"; term.focus(); };
    ws.onclose = function (ev) { state.textContent = "closed" + (ev.reason ? ": " + ev.reason : ""); };
    ws.onmessage = function (ev) { term.write(new Uint8Array(ev.data)); };
    term.onData(function (data) {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "input", data: data }));
    });
    term.onResize(function (size) {
      if (ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ type: "resize", cols: size.cols, rows: size.rows }));
      }
    });
    window.addEventListener("resize", function () { fit.fit(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
