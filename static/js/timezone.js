// The browser's time zone, offered where the person has not chosen one: at sign-up in a
// hidden field, in settings as the value of an empty time zone box (saved only if they save).
(function () {
  "use strict";
  let detected;
  try {
    detected = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!detected) return;
  document.querySelectorAll("[data-browser-time-zone]").forEach((input) => {
    if (!input.value) input.value = detected;
  });
  const box = document.querySelector('input[list="time-zones"]');
  const hint = document.querySelector("[data-time-zone-hint]");
  if (box && !box.value && hint) {
    box.value = detected;
    hint.textContent = `${detected} is your browser's time zone. Save your profile to use it.`;
    hint.hidden = false;
  }
})();
