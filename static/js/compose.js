// The message form: a live "n / 1024" counter, and one send per click.
// Small and framework-free; the page works without it (the server enforces the same rules).
(function () {
  "use strict";

  function setUp(form) {
    var text = form.querySelector("[data-compose-text]");
    var counter = form.querySelector("[data-compose-counter]");
    var submit = form.querySelector("[data-compose-submit]");
    if (!text) return;
    var limit = parseInt(text.getAttribute("maxlength"), 10) || 1024;

    function update() {
      // Line breaks count once, as the server counts them.
      var length = text.value.replace(/\r\n/g, "\n").length;
      if (counter) {
        counter.textContent = length + " / " + limit;
        counter.classList.toggle("is-near-limit", length > limit * 0.9);
      }
    }

    text.addEventListener("input", update);
    update();
    // The server sent the form back with an error: put the cursor where the fix goes.
    if (text.getAttribute("aria-invalid") === "true") text.focus();

    // Ctrl+Enter or Cmd+Enter sends, as in most chat apps.
    text.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        if (form.requestSubmit) form.requestSubmit(submit || undefined);
        else if (submit) submit.click();
      }
    });

    form.addEventListener("submit", function (event) {
      if (form.dataset.sending === "true") {
        event.preventDefault(); // a second click while the first is on its way
        return;
      }
      form.dataset.sending = "true";
      if (submit) {
        submit.disabled = true;
        submit.setAttribute("aria-busy", "true");
        submit.dataset.label = submit.textContent;
        submit.textContent = "Sending…";
      }
    });

    // Coming back with the Back button restores the page from cache: make it usable again.
    window.addEventListener("pageshow", function (event) {
      if (!event.persisted) return;
      delete form.dataset.sending;
      if (submit) {
        submit.disabled = false;
        submit.removeAttribute("aria-busy");
        if (submit.dataset.label) submit.textContent = submit.dataset.label;
      }
    });
  }

  function scrollThreadToEnd() {
    // The newest message is at the bottom: start there, as a chat does.
    var thread = document.querySelector("[data-thread][data-scroll-end]");
    if (thread) thread.scrollTop = thread.scrollHeight;
  }

  document.querySelectorAll("form[data-compose]").forEach(setUp);
  scrollThreadToEnd();
})();
