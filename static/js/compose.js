// The message form, made to feel like a chat: what htmx cannot do for it. Without it the
// form posts, and the server redirects, or sends the page back with the error.
//
// A send shows the text at once in a bubble (from <template id="pending-message">), empties
// the box and posts the form with fetch (X-Requested-With: fetch), one at a time, in order.
// Stored: 201 and X-Next-Token (the next one-time token); the live poll (live.js), asked at
// once, brings the message as the server draws it, and the bubble goes. Any other answer is
// the page the form would get without JavaScript: its error goes under the box, the text back
// into it; a refusal takes the bubble away, anything else (no answer, a 503, an out-of-date
// page) leaves it "Not sent — Retry", and a retry sends the same token (stored once). An ended
// session goes to the login page and back. Without a live thread (a new conversation, an older
// page) the page moves to the conversation once it is sent. The counter counts as the server
// does (code points, ends trimmed); drafts (typed, or sent but not stored) stay in
// localStorage per person and conversation; Enter sends, unless an input method is composing.
(function () {
  "use strict";

  const TIMEOUT = 20000; // a send unanswered this long counts as not sent (a retry is safe)
  const ANNOUNCE_DELAY = 700; // ms of quiet after typing before the length is announced
  const OFFLINE = "The server could not be reached. Check your connection and retry.";

  function cookie(name) {
    let found = document.cookie.split("; ").filter((part) => part.indexOf(name + "=") === 0)[0];
    return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
  }

  // A version 4 uuid, as the server makes them: the form's next one-time token.
  function newToken() {
    if (window.crypto.randomUUID) return window.crypto.randomUUID();
    const random = () => window.crypto.getRandomValues(new Uint8Array(1))[0];
    return "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
      (c ^ (random() & (15 >> (c / 4)))).toString(16));
  }

  // The text as the server stores it (messaging/services.py clean_message_text), and its
  // length as the server counts it: characters (code points), not UTF-16 units.
  function asSent(text) {
    return text.replace(/\r\n/g, "\n").trim();
  }

  function lengthOf(text) {
    return Array.from(asSent(text)).length;
  }

  function characters(count) {
    return count + (count === 1 ? " character" : " characters");
  }

  // The draft kept under `key`; with `text`, keep that instead ("" forgets it). The browser
  // may keep nothing (private modes, full, refused): then the draft lives in the box only.
  function draft(key, text) {
    try {
      if (text === undefined) return window.localStorage.getItem(key);
      if (text) window.localStorage.setItem(key, text);
      else window.localStorage.removeItem(key);
    } catch (error) {
      return null;
    }
  }

  // Why the server did not store it, from the page it answered with: the message form's
  // alerts (a block, a limit, a validation error: a refusal), else the page's own sentence
  // (the CSRF page's [data-send-error]), else its heading and first paragraph (a 503, a 404).
  function reasonsIn(html) {
    let page = new DOMParser().parseFromString(html || "", "text/html");
    let texts = (elements) => elements.map((e) => e.textContent.trim()).filter(Boolean);
    let refusals = texts(Array.from(page.querySelectorAll("form[data-compose] [role=alert]")));
    if (refusals.length) return { refused: true, reasons: refusals };
    let sentence = page.querySelector("[data-send-error]");
    let heading = page.querySelector("main h1");
    let next = heading && heading.nextElementSibling;
    if (sentence) return { reasons: texts([sentence]) };
    if (!heading) return { reasons: [] };
    let reasons = [heading.textContent.trim() + "."];
    if (next && next.tagName === "P") reasons.push(next.textContent.trim());
    return { reasons: reasons };
  }

  function setUp(form) {
    let box = form.querySelector("[data-compose-text]");
    let counter = form.querySelector("[data-compose-counter]");
    let announcer = form.querySelector("[data-compose-announce]");
    let alertArea = form.querySelector("[data-compose-alert]");
    let hint = form.querySelector("[data-compose-hint]");
    let submit = form.querySelector("[data-compose-submit]");
    let tokenInput = form.querySelector("input[name=token]");
    let limit = parseInt(box.getAttribute("data-max-length"), 10) || 1024;
    let loginPath = form.getAttribute("data-login-url");
    let action = new URL(form.action, window.location.href);
    let draftKey = "cruddur:draft:" + form.getAttribute("data-draft-owner") + ":" + action.pathname;
    // Where sends wait, below the live thread (none on a new conversation or an older page).
    let outbox = document.getElementById("outbox");
    let pending = document.getElementById("pending-message");
    let thread = outbox && outbox.closest("[data-thread]");
    let list = document.getElementById("thread-messages");
    let live = outbox ? document.getElementById("live") : null;

    let queue = []; // sends not answered yet, oldest first; the first is on its way
    let failed = []; // sends answered "not stored": each keeps its bubble and its token
    let sent = []; // sends stored, whose bubble waits for the message to show in the thread
    let sending = false;
    let announceTimer = null;
    let announcedOver = false;
    let refused = null; // the client-side refusal shown: "blank" or "length"

    // --- the counter, and what is said about the length ---

    function update(announce) {
      let count = lengthOf(box.value);
      let over = count - limit;
      const tooMany = over > 0 ? " · " + characters(over) + " too many" : "";
      counter.textContent = count + " / " + limit + tooMany;
      counter.classList.toggle("is-near-limit", count > limit * 0.9);
      if ((refused === "length" && over <= 0) || (refused === "blank" && count > 0)) clearAlert();
      if (!announce) return;
      // Said once typing pauses, not at every key: over the limit, and back within it.
      clearTimeout(announceTimer);
      announceTimer = setTimeout(function () {
        if (over <= 0 && !announcedOver) return;
        announcedOver = over > 0;
        let within = "Within the limit: " + characters(-over) + " left";
        announcer.textContent = over > 0 ? characters(over) + " too many" : within;
      }, ANNOUNCE_DELAY);
    }

    // --- errors under the box ---

    function describe() {
      let ids = [];
      form.querySelectorAll("[role=alert][id]").forEach((alert) => {
        if (alert !== alertArea || alertArea.childNodes.length) ids.push(alert.id);
      });
      ids.push(counter.id);
      if (!hint.hidden) ids.push(hint.id);
      box.setAttribute("aria-describedby", ids.join(" "));
    }

    function showAlert(lines, invalid) {
      alertArea.textContent = "";
      lines.forEach(function (line) {
        let paragraph = document.createElement("p");
        paragraph.className = "error";
        paragraph.textContent = line;
        alertArea.appendChild(paragraph);
      });
      if (invalid) box.setAttribute("aria-invalid", "true");
      describe();
    }

    function clearAlert() {
      refused = null;
      alertArea.textContent = "";
      // What the server printed for an earlier try goes too.
      form.querySelectorAll("[role=alert]").forEach((old) => old !== alertArea && old.remove());
      box.closest(".field").classList.remove("has-error");
      box.removeAttribute("aria-invalid");
      describe();
    }

    // The box's text, after the texts sent but not stored yet, so that a reload, a crash or
    // a login loses none of them.
    function keepDraft() {
      let typed = asSent(box.value);
      let texts = [];
      queue.concat(failed).forEach(function (send) {
        let text = asSent(send.text);
        if (text && text !== typed && texts.indexOf(text) < 0) texts.push(text);
      });
      if (typed) texts.push(box.value);
      draft(draftKey, texts.join("\n\n"));
    }

    // --- bubbles ---

    function mark(send, state, status) {
      send.item.classList.remove("is-sending", "is-failed");
      if (state) send.item.classList.add(state);
      send.item.querySelector(".msg-status").textContent = status;
      send.item.querySelector(".msg-retry").hidden = state !== "is-failed";
    }

    // A stored message that the thread shows now takes its bubble's place.
    function dropShown() {
      sent = sent.filter(function (send) {
        if (!list.querySelector('[data-message-uuid="' + send.uuid + '"]')) return true;
        send.item.remove();
        return false;
      });
    }

    // --- sending ---

    function busy(on) {
      if (on && !submit.dataset.label) submit.dataset.label = submit.textContent;
      submit.toggleAttribute("aria-busy", on);
      submit.textContent = on ? "Sending…" : submit.dataset.label || submit.textContent;
    }

    function post(send) {
      let data = new FormData(form);
      data.set("text", send.text);
      data.set("token", send.token);
      // The cookie holds the current CSRF token, also after a login in another tab changed
      // it. Django reads the header only when the form's (maybe older) field is absent.
      let csrf = cookie("csrftoken");
      if (csrf) data.delete("csrfmiddlewaretoken");
      let headers = { "X-Requested-With": "fetch" };
      headers["X-CSRFToken"] = csrf || data.get("csrfmiddlewaretoken");
      return fetch(action.href, {
        method: "POST",
        body: data,
        headers: headers,
        credentials: "same-origin",
        cache: "no-store",
        signal: AbortSignal.timeout(TIMEOUT),
      })
        .then((response) => response.text().then((html) => outcomeOf(response, html)))
        .catch(() => ({ kind: "failed", reasons: [OFFLINE] }));
    }

    function outcomeOf(response, html) {
      let landed = new URL(response.url || action.href, window.location.href);
      if (response.redirected && landed.pathname.indexOf(loginPath) === 0) return { kind: "login" };
      if (response.status === 201) {
        let stored = /data-message-uuid="([^"]+)"/.exec(html);
        return {
          kind: "sent",
          uuid: stored && stored[1],
          nextToken: response.headers.get("X-Next-Token"),
          location: response.headers.get("Location"),
        };
      }
      // A redirect the page follows without JavaScript: sent, and shown there.
      if (response.ok && response.redirected) return { kind: "moved", location: landed.href };
      // Over a sending limit (429): Retry waits this long before asking again.
      let retryAfter = parseInt(response.headers.get("Retry-After"), 10) || 0;
      let found = reasonsIn(html);
      let reasons = found.reasons;
      if (!reasons.length && retryAfter) {
        reasons = ["Not sent yet: you can send again in " + retryAfter + " seconds."];
      } else if (!reasons.length) {
        reasons = ["The message could not be sent (the server answered " + response.status + ")."];
      }
      return { kind: found.refused ? "refused" : "failed", reasons, retryAfter };
    }

    function pump() {
      if (sending || !queue.length) return;
      sending = true;
      let send = queue[0];
      post(send).then(function (outcome) {
        sending = false;
        if (outcome.kind === "login") {
          // The session ended: keep every unsent text as the draft, log in, and come back.
          keepDraft();
          let back = encodeURIComponent(window.location.pathname);
          window.location.assign(loginPath + "?next=" + back);
          return;
        }
        queue.shift();
        if (outcome.kind === "moved" || (outcome.kind === "sent" && !outbox)) {
          // Stored: the conversation shows it. (Without a thread the box still holds the text.)
          if (outbox) keepDraft();
          else draft(draftKey, "");
          window.location.assign(outcome.location || action.href);
          return;
        }
        if (outcome.kind === "sent") {
          if (outcome.nextToken) tokenInput.value = outcome.nextToken;
          mark(send, "", "Sent");
          send.uuid = outcome.uuid;
          sent.push(send);
          dropShown(); // the live updates brought it first
          htmx.trigger(live, "cruddur:poll"); // they bring it now, in its place
        } else {
          notSent(send, outcome);
        }
        keepDraft();
        pump();
      });
    }

    // Not stored. A refusal (the server said why, and stored nothing) with the box free
    // takes the bubble back: the text returns to the box under the reason, as the page
    // without JavaScript shows it. Otherwise (no answer, a 503, an out-of-date page: the
    // message may even have been stored) the bubble stays, marked "Not sent — Retry", and
    // the text also goes back into the box if it is free.
    function notSent(send, outcome) {
      send.retryAt = outcome.retryAfter ? Date.now() + outcome.retryAfter * 1000 : 0;
      let free = !asSent(box.value);
      if (!outbox) {
        busy(false); // the text is still in the box, with the same token
      } else if (outcome.kind === "refused" && free) {
        send.item.remove();
      } else {
        failed.push(send);
        mark(send, "is-failed", "Not sent — ");
      }
      if (outbox && free) {
        box.value = send.text; // sending it from the box again is a retry: same token
        update(false);
      }
      showAlert(outcome.reasons, false);
    }

    function retrySend(send) {
      if (send.retryAt > Date.now()) {
        let wait = Math.ceil((send.retryAt - Date.now()) / 1000);
        showAlert(["You can send again in " + wait + (wait === 1 ? " second." : " seconds.")]);
        return;
      }
      failed.splice(failed.indexOf(send), 1);
      if (asSent(box.value) === asSent(send.text)) {
        box.value = ""; // the retry takes it: a send from the box would be a second message
        update(false);
      }
      clearAlert();
      mark(send, "is-sending", "Sending…");
      outbox.appendChild(send.item); // it will be stored after what came meanwhile
      thread.scrollTop = thread.scrollHeight;
      box.focus(); // the button is gone with the bubble's status
      queue.push(send);
      keepDraft();
      pump();
    }

    function send() {
      let text = box.value;
      let count = lengthOf(text);
      if (!count && queue.length) return; // a second Enter: already sent
      if (!count || count > limit) {
        refused = count ? "length" : "blank";
        showAlert([count ? "A message can be at most " + limit + " characters: this one has " +
          characters(count - limit) + " too many." : "Write a message before sending."], true);
        box.focus();
        return;
      }
      if (!outbox && queue.length) return; // one at a time; the text stays in the box
      clearAlert();
      let next = { text: text, token: tokenInput.value };
      if (outbox) {
        // A failed send of this same text: sending it again is that send again, with its token.
        let again = failed.filter((old) => asSent(old.text) === asSent(text))[0];
        if (again) {
          failed.splice(failed.indexOf(again), 1);
          again.item.remove();
          next.token = again.token;
        } else {
          tokenInput.value = newToken(); // the next send's, should it come before this one's answer
        }
        next.item = pending.content.firstElementChild.cloneNode(true);
        next.item.querySelector(".msg-text").textContent = asSent(text);
        next.item.querySelector(".msg-retry").addEventListener("click", retrySend.bind(null, next));
        outbox.appendChild(next.item);
        box.value = "";
        update(false);
        thread.scrollTop = thread.scrollHeight;
      } else {
        busy(true);
      }
      box.focus();
      queue.push(next);
      keepDraft();
      pump();
    }

    // --- wiring ---

    if (!box.value.trim()) box.value = draft(draftKey) || ""; // a text sent back wins
    box.addEventListener("input", function () {
      update(true);
      keepDraft();
    });
    update(false);
    if (live) live.addEventListener("htmx:afterRequest", dropShown);

    // Enter sends, Shift+Enter starts a new line; Ctrl+Enter and Cmd+Enter send too. Not
    // while an input method is composing: there Enter picks the characters.
    box.setAttribute("enterkeyhint", "send");
    hint.hidden = false;
    box.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || event.isComposing || event.keyCode === 229) return;
      if (event.shiftKey || event.altKey) return;
      event.preventDefault();
      form.requestSubmit(submit);
    });
    describe();

    // The server sent the form back with an error: put the cursor where the fix goes.
    if (box.getAttribute("aria-invalid") === "true") box.focus();

    form.noValidate = true; // send() says what is wrong, in the page's words
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send();
    });

    // Coming back with the Back button restores the page from cache: make it usable again.
    window.addEventListener("pageshow", function (event) {
      if (event.persisted && !outbox) {
        queue = [];
        sending = false;
        busy(false);
      }
    });
  }

  document.querySelectorAll("form[data-compose]").forEach(setUp);
})();
