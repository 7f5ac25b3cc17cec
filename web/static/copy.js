// Copy buttons: <button data-copy> copies the text of the element just before it.
// Served from 'self' because the Content-Security-Policy allows no inline handlers.
// navigator.clipboard exists only in a secure context; elsewhere the text is selected and
// copied with execCommand, and the button says what happened either way.
(function () {
  "use strict";
  function say(button, text) {
    var old = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", old);
    button.textContent = text;
    setTimeout(function () { button.textContent = old; }, 1500);
  }
  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = button.previousElementSibling;
    if (!source) return;
    var text = source.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { say(button, "copied"); },
        function () { selectText(source); say(button, "press Ctrl-C"); }
      );
      return;
    }
    selectText(source);
    var copied = false;
    try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
    say(button, copied ? "copied" : "press Ctrl-C");
  });
})();
