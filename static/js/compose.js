// The message form, made to feel like a chat. Framework-free; the page works without it: the
// form posts, and the server redirects, or sends the page back with the error.
//
// Sending without a reload. A send shows the text at once in a bubble at the end of the thread
// ("Sending…"), empties the box and posts the form with fetch (X-Requested-With: fetch). When
// the message is stored the server answers 201 with it as the page prints it
// (messaging/_messages.html), which takes the bubble's place, and X-Next-Token, the form's next
// one-time token. Any other answer is the page the form would get without JavaScript: the
// error is read from it and shown under the box, and the text goes back into the box. A
// refusal (a block, a limit) takes the bubble away; anything else (no answer, a 503, an
// out-of-date page) leaves it marked "Not sent — Retry". Retrying sends the same token, so a
// send that was stored but whose answer was lost is not stored twice (the store keeps one
// message per token). A session that ended sends the person to the login page and back
// here, the text kept as the draft.
//
// Exactly once, in order: each send takes the form's token and leaves a new one in its place,
// and sends go out one at a time, in the order they were made. A second Enter while the first
// is on its way finds the box empty and sends nothing.
//
// Where there is no live thread to add to (a new conversation, an older page of one) the send
// goes the same way and the page then moves to the conversation.
//
// The counter counts characters as the server does (code points; a line break is one; the
// ends trimmed), not UTF-16 units as the browser's maxlength would. What is typed, and what
// was sent but is not stored yet, is kept in localStorage (per person and conversation) until
// the server has it, and comes back after a reload or a login.
(function () {
  "use strict";

  var CSRF_COOKIE = "csrftoken";
  var TIMEOUT = 20000; // a send unanswered this long counts as not sent (a retry is safe)
  var ANNOUNCE_DELAY = 700; // ms of quiet after typing before the length is announced
  var OFFLINE = "The server could not be reached. Check your connection and retry.";

  // --- small helpers ---

  function cookie(name) {
    var value = null;
    document.cookie.split(";").forEach(function (part) {
      var pair = part.trim().split("=");
      if (pair[0] === name) value = decodeURIComponent(pair.slice(1).join("="));
    });
    return value;
  }

  // A version 4 uuid, as the server makes them: the form's next one-time token.
  function newToken() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.from(bytes, function (byte) {
      return (byte + 0x100).toString(16).slice(1);
    }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)]
      .join("-");
  }

  // The text as the server stores it (messaging/services.py clean_message_text).
  function asSent(text) {
    return text.replace(/\r\n/g, "\n").trim();
  }

  // Its length as the server counts it: characters (code points), not UTF-16 units.
  function lengthOf(text) {
    return Array.from(asSent(text)).length;
  }

  function tooMany(count) {
    return count + (count === 1 ? " character" : " characters") + " too many";
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  var storage = (function () {
    try {
      return window.localStorage; // null, or throws, when the browser keeps nothing
    } catch (error) {
      return null;
    }
  })();

  function readDraft(key) {
    try {
      return storage ? storage.getItem(key) : null;
    } catch (error) {
      return null;
    }
  }

  function writeDraft(key, text) {
    try {
      if (!storage) return;
      if (text) storage.setItem(key, text);
      else storage.removeItem(key);
    } catch (error) {
      // Full or refused: the draft lives in the box only.
    }
  }

  // The message form's alerts in the page the server answered with: why it refused the
  // message (a block, a limit, a validation error), before storing anything.
  function refusalsIn(page) {
    var reasons = [];
    page.querySelectorAll("form[data-compose] [role=alert]").forEach(function (alert) {
      var text = alert.textContent.trim();
      if (text) reasons.push(text);
    });
    return reasons;
  }

  // Any other page: its own sentence (the CSRF page's [data-send-error]), else its heading
  // and first paragraph (the 503 page, a 404).
  function troubleIn(page) {
    var sentence = page.querySelector("[data-send-error]");
    if (sentence) return [sentence.textContent.trim()];
    var heading = page.querySelector("main h1");
    if (!heading) return [];
    var next = heading.nextElementSibling;
    var reasons = [heading.textContent.trim() + "."];
    if (next && next.tagName === "P") reasons.push(next.textContent.trim());
    return reasons;
  }

  // --- one message form ---

  function setUp(form) {
    var box = form.querySelector("[data-compose-text]");
    if (!box) return;
    var counter = form.querySelector("[data-compose-counter]");
    var announcer = form.querySelector("[data-compose-announce]");
    var alertArea = form.querySelector("[data-compose-alert]");
    var hint = form.querySelector("[data-compose-hint]");
    var submit = form.querySelector("[data-compose-submit]");
    var tokenInput = form.querySelector("input[name=token]");
    var limit = parseInt(box.getAttribute("data-max-length"), 10) || 1024;
    var loginPath = form.getAttribute("data-login-url") || "/accounts/login/";
    var action = new URL(form.action, window.location.href);
    var draftKey =
      "cruddur:draft:" + (form.getAttribute("data-draft-owner") || "") + ":" + action.pathname;
    // The open thread that new messages are added to; none on a new conversation's page or
    // an older page of one.
    var list = document.querySelector("[data-live-thread] [data-live-messages]");
    var thread = list ? list.closest("[data-thread]") : null;
    var canSend = !!(
      window.fetch && window.FormData && window.DOMParser && tokenInput && alertArea
    );

    var queue = []; // sends not answered yet, oldest first; the first is on its way
    var failed = []; // sends answered "not stored": each keeps its bubble and its token
    var sending = false;
    var announceTimer = null;
    var announcedOver = false;
    var refused = null; // the client-side refusal shown: "blank" or "length"

    // --- the counter, and what is said about the length ---

    function update(announce) {
      var count = lengthOf(box.value);
      var over = count - limit;
      if (counter) {
        counter.textContent = count + " / " + limit + (over > 0 ? " · " + tooMany(over) : "");
        counter.classList.toggle("is-near-limit", count > limit * 0.9);
      }
      if ((refused === "length" && over <= 0) || (refused === "blank" && count > 0)) clearAlert();
      if (!announce || !announcer) return;
      // Said once typing pauses, not at every key: over the limit, and back within it.
      clearTimeout(announceTimer);
      announceTimer = setTimeout(function () {
        if (over > 0) {
          announcer.textContent = tooMany(over);
          announcedOver = true;
        } else if (announcedOver) {
          announcer.textContent =
            "Within the limit: " + -over + (over === -1 ? " character" : " characters") + " left";
          announcedOver = false;
        }
      }, ANNOUNCE_DELAY);
    }

    // Why sending is refused here, in the server's words; null when it may be sent.
    function refusalOf(text) {
      var count = lengthOf(text);
      if (!count) return { kind: "blank", message: "Write a message before sending." };
      if (count > limit) {
        return {
          kind: "length",
          message:
            "A message can be at most " + limit + " characters: this one has " +
            tooMany(count - limit) + ".",
        };
      }
      return null;
    }

    // --- errors under the box ---

    function describe() {
      var ids = [];
      form.querySelectorAll("[role=alert][id]").forEach(function (alert) {
        if (alert !== alertArea || alertArea.childNodes.length) ids.push(alert.id);
      });
      if (counter) ids.push(counter.id);
      if (hint && !hint.hidden) ids.push(hint.id);
      box.setAttribute("aria-describedby", ids.join(" "));
    }

    function showAlert(lines, invalid) {
      alertArea.textContent = "";
      lines.forEach(function (line) {
        alertArea.appendChild(element("p", "error", line));
      });
      if (invalid) box.setAttribute("aria-invalid", "true");
      describe();
    }

    function clearAlert() {
      refused = null;
      alertArea.textContent = "";
      // What the server printed for an earlier try goes too.
      form.querySelectorAll("[role=alert]").forEach(function (old) {
        if (old !== alertArea) old.remove();
      });
      var field = box.closest(".field");
      if (field) field.classList.remove("has-error");
      box.removeAttribute("aria-invalid");
      describe();
    }

    // --- drafts ---

    // The box's text, after the texts sent but not stored yet, so that a reload, a crash or
    // a login loses none of them.
    function keepDraft() {
      var typed = asSent(box.value);
      var texts = [];
      queue.concat(failed).forEach(function (send) {
        var text = asSent(send.text);
        if (text && text !== typed && texts.indexOf(text) < 0) texts.push(text);
      });
      if (typed) texts.push(box.value);
      writeDraft(draftKey, texts.join("\n\n"));
    }

    // --- bubbles ---

    function scrollToEnd() {
      if (thread) thread.scrollTop = thread.scrollHeight;
    }

    function bubble(text) {
      var item = element("li", "msg msg-mine is-sending");
      var body = element("div", "bubble");
      var meta = element("p", "msg-meta");
      meta.appendChild(element("span", "msg-author", "You"));
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(element("span", "msg-status", "Sending…"));
      body.appendChild(meta);
      body.appendChild(element("p", "msg-text", asSent(text)));
      item.appendChild(body);
      return item;
    }

    function markSending(send) {
      send.item.classList.remove("is-failed");
      send.item.classList.add("is-sending");
      send.item.querySelector(".msg-status").textContent = "Sending…";
    }

    function markFailed(send) {
      send.item.classList.remove("is-sending");
      send.item.classList.add("is-failed");
      var status = send.item.querySelector(".msg-status");
      status.textContent = "Not sent — ";
      var retry = element("button", "msg-retry", "Retry");
      retry.type = "button";
      retry.addEventListener("click", function () {
        retrySend(send);
      });
      status.appendChild(retry);
    }

    function shown(uuid) {
      var found = null;
      list.querySelectorAll("[data-message-uuid]").forEach(function (item) {
        if (item.getAttribute("data-message-uuid") === uuid) found = item;
      });
      return found;
    }

    // The server's rendering of the stored message takes the bubble's place. The list is
    // joined at the seam (one separator a day, grouping) by live.js, on cruddur:message-sent.
    function placeSent(send, html) {
      var page = new DOMParser().parseFromString(html, "text/html");
      var nodes = Array.prototype.filter.call(page.body.children, function (node) {
        return node.tagName === "LI";
      });
      var message = nodes.filter(function (node) {
        return node.hasAttribute("data-message-uuid");
      })[0];
      var placed = message ? shown(message.getAttribute("data-message-uuid")) : null;
      if (!message) {
        send.item.classList.remove("is-sending");
        send.item.querySelector(".msg-status").textContent = "Sent";
        placed = send.item;
      } else if (placed) {
        send.item.remove(); // the live updates brought it first
      } else {
        nodes = nodes.map(function (node) {
          return document.importNode(node, true);
        });
        placed = nodes.filter(function (node) {
          return node.hasAttribute("data-message-uuid");
        })[0];
        send.item.replaceWith.apply(send.item, nodes);
      }
      document.dispatchEvent(
        new CustomEvent("cruddur:message-sent", { detail: { element: placed } })
      );
      scrollToEnd();
    }

    // --- sending ---

    function busy(on) {
      if (!submit) return;
      if (on) {
        submit.setAttribute("aria-busy", "true");
        if (!submit.dataset.label) submit.dataset.label = submit.textContent;
        submit.textContent = "Sending…";
      } else {
        submit.removeAttribute("aria-busy");
        if (submit.dataset.label) submit.textContent = submit.dataset.label;
      }
    }

    // A failed send of this same text: sending it again is that send again, with its token.
    function takeBack(text) {
      for (var i = 0; i < failed.length; i += 1) {
        if (asSent(failed[i].text) === asSent(text)) {
          var send = failed.splice(i, 1)[0];
          send.item.remove();
          return send;
        }
      }
      return null;
    }

    function takeToken() {
      var token = tokenInput.value;
      tokenInput.value = newToken(); // the next send's, should it come before this one's answer
      return token;
    }

    function post(send) {
      var data = new FormData(form);
      data.set("text", send.text);
      data.set("token", send.token);
      var headers = { "X-Requested-With": "fetch", Accept: "text/html" };
      var current = cookie(CSRF_COOKIE);
      var field = form.querySelector("[name=csrfmiddlewaretoken]");
      if (current) {
        // The cookie holds the current CSRF token, also after a login in another tab changed
        // it. Django reads the header only when the form's (maybe older) field is absent.
        headers["X-CSRFToken"] = current;
        data.delete("csrfmiddlewaretoken");
      } else if (field) {
        headers["X-CSRFToken"] = field.value;
      }
      var controller = window.AbortController ? new AbortController() : null;
      var timer = controller
        ? setTimeout(function () {
            controller.abort();
          }, TIMEOUT)
        : null;
      return fetch(action.href, {
        method: "POST",
        body: data,
        headers: headers,
        credentials: "same-origin",
        cache: "no-store",
        signal: controller ? controller.signal : undefined,
      })
        .then(function (response) {
          return response.text().then(function (html) {
            clearTimeout(timer);
            return outcomeOf(response, html);
          });
        })
        .catch(function () {
          clearTimeout(timer);
          return { kind: "failed", reasons: [OFFLINE] };
        });
    }

    function outcomeOf(response, html) {
      var landed = new URL(response.url || action.href, window.location.href);
      if (response.redirected && landed.pathname.indexOf(loginPath) === 0) return { kind: "login" };
      if (response.status === 201) {
        return {
          kind: "sent",
          html: html,
          nextToken: response.headers.get("X-Next-Token"),
          location: response.headers.get("Location"),
        };
      }
      // A redirect the page follows without JavaScript: sent, and shown there.
      if (response.ok && response.redirected) return { kind: "moved", url: landed.href };
      // Over a sending limit (429): Retry waits this long before asking again.
      var retryAfter = parseInt(response.headers.get("Retry-After"), 10) || 0;
      var page = new DOMParser().parseFromString(html || "", "text/html");
      var reasons = refusalsIn(page);
      if (reasons.length) return { kind: "refused", reasons: reasons, retryAfter: retryAfter };
      reasons = troubleIn(page);
      if (!reasons.length && retryAfter) {
        reasons = ["Not sent yet: you can send again in " + retryAfter + " seconds."];
      } else if (!reasons.length) {
        reasons = ["The message could not be sent (the server answered " + response.status + ")."];
      }
      return { kind: "failed", reasons: reasons, retryAfter: retryAfter };
    }

    function pump() {
      if (sending || !queue.length) return;
      sending = true;
      var send = queue[0];
      post(send).then(function (outcome) {
        sending = false;
        if (outcome.kind === "login") {
          toLogin();
          return;
        }
        queue.shift();
        if (outcome.kind === "moved" || (outcome.kind === "sent" && !list)) {
          // Stored: the conversation shows it. (Without a thread the box still holds the text.)
          if (list) keepDraft();
          else writeDraft(draftKey, "");
          window.location.assign(outcome.location || outcome.url || action.href);
          return;
        }
        if (outcome.kind === "sent") {
          if (outcome.nextToken) tokenInput.value = outcome.nextToken;
          placeSent(send, outcome.html);
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
      var free = !asSent(box.value);
      if (!list) {
        busy(false); // the text is still in the box, with the same token
      } else if (outcome.kind === "refused" && free) {
        send.item.remove();
        box.value = send.text;
        update(false);
      } else {
        failed.push(send);
        markFailed(send);
        if (free) {
          box.value = send.text; // sending it from the box again is a retry: same token
          update(false);
        }
      }
      showAlert(outcome.reasons, false);
    }

    function retrySend(send) {
      var index = failed.indexOf(send);
      if (index < 0) return;
      if (send.retryAt > Date.now()) {
        var wait = Math.ceil((send.retryAt - Date.now()) / 1000);
        showAlert(["You can send again in " + wait + (wait === 1 ? " second." : " seconds.")]);
        return;
      }
      failed.splice(index, 1);
      if (asSent(box.value) === asSent(send.text)) {
        box.value = ""; // the retry takes it: a send from the box would be a second message
        update(false);
      }
      clearAlert();
      markSending(send);
      list.appendChild(send.item); // it will be stored after what came meanwhile
      scrollToEnd();
      box.focus(); // the button is gone with the bubble's status
      queue.push(send);
      keepDraft();
      pump();
    }

    // The session ended: keep every unsent text as the draft, log in, and come back here,
    // where the draft is put back into the box.
    function toLogin() {
      keepDraft();
      window.location.assign(loginPath + "?next=" + encodeURIComponent(window.location.pathname));
    }

    function send() {
      var text = box.value;
      var refusal = refusalOf(text);
      if (refusal) {
        if (refusal.kind === "blank" && queue.length) return; // a second Enter: already sent
        refused = refusal.kind;
        showAlert([refusal.message], true);
        box.focus();
        return;
      }
      if (!list && queue.length) return; // one at a time; the text stays in the box
      clearAlert();
      var next = { text: text };
      if (list) {
        var again = takeBack(text);
        next.token = again ? again.token : takeToken();
        next.item = bubble(text);
        list.appendChild(next.item);
        box.value = "";
        update(false);
        scrollToEnd();
      } else {
        next.token = tokenInput.value;
        busy(true);
      }
      box.focus();
      queue.push(next);
      keepDraft();
      pump();
    }

    // --- wiring ---

    if (!box.value.trim()) {
      var draft = readDraft(draftKey); // a text the server sent back wins over the draft
      if (draft) box.value = draft;
    }
    box.addEventListener("input", function () {
      update(true);
      keepDraft();
    });
    update(false);

    // Enter sends, Shift+Enter starts a new line; Ctrl+Enter and Cmd+Enter send too. Not
    // while an input method is composing: there Enter picks the characters.
    box.setAttribute("enterkeyhint", "send");
    if (hint) hint.hidden = false;
    box.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || event.isComposing || event.keyCode === 229) return;
      if (event.shiftKey || event.altKey) return;
      event.preventDefault();
      if (form.requestSubmit) form.requestSubmit(submit || undefined);
      else if (submit) submit.click();
    });
    describe();

    // The server sent the form back with an error: put the cursor where the fix goes.
    if (box.getAttribute("aria-invalid") === "true") box.focus();

    if (!canSend) return; // the form posts as it does without JavaScript
    form.noValidate = true; // send() says what is wrong, in the page's words
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send();
    });

    // Coming back with the Back button restores the page from cache: make it usable again.
    window.addEventListener("pageshow", function (event) {
      if (event.persisted && !list) {
        queue = [];
        sending = false;
        busy(false);
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
