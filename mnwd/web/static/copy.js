// Copy buttons: <button data-copy-target="ID" hidden> is shown when the clipboard can be written, and copies the
// text of the element with that id (a list: its items, one a line); the nearest .copied element (an
// aria-live region) then says so. The value stays once on the page: the button only points at it.
(function () {
  "use strict";

  function textOf(element) {
    if (element.matches("ul, ol")) {
      return Array.from(element.querySelectorAll("li"), function (li) { return li.textContent.trim(); }).join("\n");
    }
    return element.textContent.trim();
  }

  function announce(button, text) {
    const scope = button.closest("p, div, td, dd, li") || document;
    const status = scope.querySelector(".copied");
    if (status) status.textContent = text;
  }

  function setUp(button) {
    const target = document.getElementById(button.dataset.copyTarget);
    if (!target || !navigator.clipboard || !window.isSecureContext) return;
    button.hidden = false;
    button.addEventListener("click", async function () {
      try {
        await navigator.clipboard.writeText(textOf(target));
        announce(button, "Copied.");
      } catch (_) {
        announce(button, "Could not copy: select the text and copy it by hand.");
      }
    });
  }

  document.querySelectorAll("button[data-copy-target]").forEach(setUp);
})();
