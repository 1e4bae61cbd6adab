/*
 * AsterAI page behaviour. Plain JavaScript, no build step, loaded from <head> on every page
 * (the Content-Security-Policy allows no inline scripts, so this file is the only place for it).
 *
 *   - Theme: buttons with data-theme-choice="light|dark|system" apply the theme to <html> at
 *     once. For signed-in people the button also carries hx-post, so htmx saves the choice on
 *     the account; for anonymous visitors (<html data-theme-store="local">) it is kept in
 *     localStorage and restored here before the first paint.
 *   - Flash messages: a [data-dismiss="flash"] button removes its message.
 *   - Copy buttons: [data-copy-target="<input id>"] copies that field's value to the clipboard
 *     (shown-once secrets such as a new API key) and says so on the button.
 *   - Escape closes an open dropdown menu.
 */
(function () {
  "use strict";

  var root = document.documentElement;
  var STORAGE_KEY = "asterai.theme";
  var THEMES = ["light", "dark", "system"];

  function storesLocally() {
    return root.getAttribute("data-theme-store") === "local";
  }

  function readStoredTheme() {
    try {
      return window.localStorage.getItem(STORAGE_KEY);
    } catch (error) {
      return null; // storage disabled (private mode, policy): fall back to the system theme
    }
  }

  function storeTheme(theme) {
    try {
      window.localStorage.setItem(STORAGE_KEY, theme);
    } catch (error) {
      /* not fatal: the theme still applies to this page */
    }
  }

  function markChoice(theme) {
    var buttons = document.querySelectorAll("[data-theme-choice]");
    for (var i = 0; i < buttons.length; i++) {
      var pressed = buttons[i].getAttribute("data-theme-choice") === theme;
      buttons[i].setAttribute("aria-pressed", pressed ? "true" : "false");
    }
  }

  // "system" leaves data-theme unset, so Pico follows prefers-color-scheme.
  function applyTheme(theme) {
    if (THEMES.indexOf(theme) === -1) {
      return;
    }
    if (theme === "system") {
      root.removeAttribute("data-theme");
    } else {
      root.setAttribute("data-theme", theme);
    }
    root.setAttribute("data-theme-preference", theme);
    markChoice(theme);
  }

  // Copies the named field's value. The field is selected first, so Ctrl+C still works if the
  // Clipboard API is unavailable (plain http on a non-local host) or refused.
  function copyField(button) {
    var field = document.getElementById(button.getAttribute("data-copy-target"));
    if (!field) {
      return;
    }
    field.focus();
    field.select();
    var done = function () {
      button.textContent = button.getAttribute("data-copied-text") || "Copied";
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        /* refused: the selected text can still be copied by hand */
      });
    } else if (document.execCommand && document.execCommand("copy")) {
      done();
    }
  }

  if (storesLocally()) {
    var stored = readStoredTheme();
    if (stored) {
      applyTheme(stored);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    markChoice(root.getAttribute("data-theme-preference") || "system");
  });

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) {
      return;
    }

    var choice = target.closest("[data-theme-choice]");
    if (choice) {
      var theme = choice.getAttribute("data-theme-choice");
      applyTheme(theme);
      if (storesLocally()) {
        storeTheme(theme);
      }
      var menu = choice.closest("details[open]");
      if (menu) {
        menu.removeAttribute("open");
      }
      return;
    }

    var copy = target.closest("[data-copy-target]");
    if (copy) {
      copyField(copy);
      return;
    }

    var dismiss = target.closest("[data-dismiss='flash']");
    if (dismiss) {
      var message = dismiss.closest(".flash");
      if (message) {
        var list = message.parentElement;
        message.remove();
        if (list && !list.querySelector(".flash")) {
          list.remove();
        }
      }
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      return;
    }
    var open = document.querySelectorAll("details.dropdown[open]");
    for (var i = 0; i < open.length; i++) {
      open[i].removeAttribute("open");
      var summary = open[i].querySelector("summary");
      if (summary && open[i].contains(document.activeElement)) {
        summary.focus();
      }
    }
  });
})();
