// Forms marked data-swap-errors (htmx posts that answer with the whole page) show a refused
// answer (409, 422, ...) like a success: the page comes back with the errors next to their
// fields. htmx swaps only 2xx answers by default, which left such a form silent.
"use strict";
document.addEventListener("htmx:beforeSwap", (event) => {
  const detail = event.detail;
  const source = (detail.requestConfig && detail.requestConfig.elt) || event.target;
  const status = detail.xhr ? detail.xhr.status : 0;
  if (status >= 400 && status < 500 && source && source.closest && source.closest("[data-swap-errors]")) {
    detail.shouldSwap = true;
    detail.isError = false;
  }
});
