// Small page behaviours, delegated from the document so that fragments htmx swaps in get them too. They live
// in this file, not in inline scripts or on*= attributes, because the Content Security Policy runs no inline
// JavaScript (trading_site/settings.py, CONTENT_SECURITY_POLICY).
(function () {
  "use strict";

  // <select data-autosubmit>: choosing an option submits its form (the language and market menus; a
  // <noscript> button does it without JavaScript).
  document.addEventListener("change", function (event) {
    var select = event.target.closest && event.target.closest("select[data-autosubmit]");
    if (select && select.form) {
      select.form.requestSubmit ? select.form.requestSubmit() : select.form.submit();
    }
  });

  // <button data-copy="element-id" data-copied="Copied">: copies the element's text and says so for 1.5 s.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) {
      return;
    }
    var source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) {
      return;
    }
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = button.dataset.copied || label;
      setTimeout(function () {
        button.textContent = label;
      }, 1500);
    });
  });

  // hx-trigger="every 5s" with data-poll-unless-open: skip a poll while a <details> inside is open (a form the
  // trader is filling would be replaced). htmx's own filter syntax ("every 5s [...]") needs eval.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var element = event.detail.elt;
    if (element.hasAttribute("data-poll-unless-open") && element.querySelector("details[open]")) {
      event.preventDefault();
    }
  });

  // htmx runs with allowEval off: an attribute that needs eval (hx-on, a trigger filter, hx-vals "js:") is
  // refused; say so where a developer (and the browser tests) will see it.
  document.addEventListener("htmx:evalDisallowedError", function (event) {
    console.error("htmx:evalDisallowedError: an htmx attribute needs eval, which the CSP forbids", event.target);
  });
})();
