// Live updates on the messaging pages: new messages in an open conversation, the inbox list
// and the unread count in the navigation. Small and framework-free; the pages work without it
// (reloading shows everything).
//
// The server pushes: an event stream (/messages/events/, messaging/event_views.py) says which
// conversation changed, and this script then asks two small endpoints what changed
// (messaging/live_views.py: inbox_poll, conversation_poll). While the stream is open nothing
// is polled; each time it opens again the script looks once, so that nothing sent while it
// was closed is missed. When there is no stream (no EventSource, the server refuses it, a
// proxy that buffers) the script polls the same endpoints on a timer, as before.
//
// The server renders every row, message and badge with the pages' own templates. A poll answers
// an HTML fragment whose root element carries the state in data-* attributes; this script
// parses it with DOMParser (which runs no scripts) and swaps its elements in. It builds no
// markup and sets no text of its own.
//
// One poll per tick asks "did my first inbox page change?" (one small DynamoDB read). Only when
// it did does the tick fetch more: the redrawn list, and the open conversation's new messages.
// Polling pauses while the tab is hidden and backs off while the server answers 503 or cannot
// be reached.
(function () {
  "use strict";

  var INTERVAL = 1500; // ms between polls: a new message shows within about two seconds
  var MAX_DELAY = 30000; // the backoff's cap
  var STREAM_RETRY = 30000; // after the server refused a stream, poll this long before asking again
  var TIMEOUT = 10000; // a poll that hangs longer is abandoned and counts as a failure
  var CATCH_UP_TRIES = 3; // polls of a conversation whose row moved before its message shows

  var root = document.querySelector("[data-live]");
  if (!root || !window.fetch) return;

  var inboxUrl = root.getAttribute("data-poll-url");
  var state = root.getAttribute("data-state") || "";
  var reading = root.getAttribute("data-reading") || ""; // the conversation open on this page
  var list = root.hasAttribute("data-live-rows") ? document.querySelector("[data-live-list]") : null;
  var navCount = document.querySelector("[data-live-unread]");
  var thread = openThread(document.querySelector("[data-live-thread]"));

  var failures = 0;
  var timer = null;
  var polling = false;
  var askAgain = false; // a change came while a poll was under way
  var stopped = false;
  var eventsUrl = root.getAttribute("data-events-url");
  var streaming = false; // the event stream is open: no timer
  var streamOpened = false; // it has been open before: a new open may have missed events

  function openThread(element) {
    if (!element) return null;
    var messages = element.querySelector("[data-live-messages]");
    var seen = {};
    messages.querySelectorAll("[data-message-uuid]").forEach(function (item) {
      seen[item.getAttribute("data-message-uuid")] = true;
    });
    return {
      element: element,
      messages: messages,
      url: element.getAttribute("data-poll-url"),
      after: element.getAttribute("data-after"), // sort key of the newest message shown
      rowSortKey: element.getAttribute("data-row-sort-key"), // where the inbox row points
      unread: 0, // the other person's messages shown since the last read
      behind: false, // the row moved: fetch the messages up to it
      tries: 0,
      seen: seen, // message uuids shown: never twice
    };
  }

  // The person is looking at this tab: it is in front and its window has the focus.
  function lookingAt() {
    return document.visibilityState === "visible" && document.hasFocus();
  }

  // --- requests ---

  // The root element marked `marker` of the fragment the server answered.
  function getFragment(url, marker) {
    var controller = window.AbortController ? new AbortController() : null;
    var timeout = controller
      ? setTimeout(function () {
          controller.abort();
        }, TIMEOUT)
      : null;
    return fetch(url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "text/html" },
      signal: controller ? controller.signal : undefined,
    }).then(
      function (response) {
        clearTimeout(timeout);
        if (!response.ok) throw { status: response.status };
        return response.text().then(function (text) {
          var fragment = new DOMParser().parseFromString(text, "text/html");
          var root = fragment.querySelector("[" + marker + "]");
          // Any other page (a login form after a redirect) will not change by asking again.
          if (!root) throw { status: response.status };
          return root;
        });
      },
      function () {
        clearTimeout(timeout);
        throw { status: 0 }; // network error or timeout
      }
    );
  }

  // 503, 5xx, 429 and network errors pass: try again later. Other answers (signed out, a bad
  // token) will not change by asking again.
  function retryable(error) {
    var status = error && error.status;
    return !status || status === 429 || status >= 500;
  }

  // --- swapping in what the server drew ---

  // An element of a fragment, as a node of this page.
  function adopt(element) {
    return document.importNode(element, true);
  }

  function swapBadge(fresh) {
    if (!navCount || !fresh) return;
    fresh = adopt(fresh);
    navCount.parentNode.replaceChild(fresh, navCount);
    navCount = fresh;
  }

  function drawRows(fresh, olderUrl) {
    var focused = list.contains(document.activeElement)
      ? document.activeElement.getAttribute("href")
      : null;
    fresh = adopt(fresh);
    list.parentNode.replaceChild(fresh, list);
    list = fresh;
    if (focused) {
      // Keep the keyboard where it was.
      list.querySelectorAll("a").forEach(function (link) {
        if (link.getAttribute("href") === focused) link.focus();
      });
    }
    var empty = document.querySelector("[data-live-empty]");
    if (empty) empty.hidden = list.children.length > 0;
    // The first page's "Older" link follows the redrawn page (a reload adds a missing one).
    var older = document.querySelector("[data-live-older] a[rel=next]");
    if (older) {
      older.hidden = !olderUrl;
      if (olderUrl) older.setAttribute("href", olderUrl);
    }
  }

  function appendMessages(fresh) {
    var box = thread.element;
    var atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    fresh.querySelectorAll("[data-message-uuid]").forEach(function (item) {
      var uuid = item.getAttribute("data-message-uuid");
      if (thread.seen[uuid]) return;
      thread.seen[uuid] = true;
      thread.messages.appendChild(adopt(item));
    });
    if (atEnd) box.scrollTop = box.scrollHeight; // follow the conversation, unless reading back
  }

  function count(element, name) {
    return parseInt(element.getAttribute(name), 10) || 0;
  }

  // --- polls ---

  function pollInbox() {
    var url = inboxUrl + "?since=" + encodeURIComponent(state);
    if (list) {
      url += "&rows=1";
      if (reading) url += "&current=" + encodeURIComponent(reading); // drawn aria-current
    }
    if (thread && lookingAt()) url += "&reading=" + encodeURIComponent(reading);
    return getFragment(url, "data-inbox-update").then(function (update) {
      state = update.getAttribute("data-state");
      swapBadge(update.querySelector("[data-live-unread]"));
      var rows = update.querySelector("[data-live-list]");
      if (!rows) return;
      if (thread) noticeOwnRow(rows, count(update, "data-reading-unread"));
      if (list) drawRows(rows, update.getAttribute("data-older-url"));
    });
  }

  function noticeOwnRow(rows, readingUnread) {
    // The server drew this conversation's row with its sort key (the list's `current`).
    var own = rows.querySelector("[data-sort-key]");
    if (own && own.getAttribute("data-sort-key") !== thread.rowSortKey) {
      thread.rowSortKey = own.getAttribute("data-sort-key");
      thread.behind = true;
      thread.tries = 0;
    }
    // The list shows this conversation as read because this tab will mark it: make sure it does.
    if (!thread.behind && readingUnread > thread.unread) thread.unread = readingUnread;
  }

  function pollThread() {
    var url =
      thread.url +
      "&after=" +
      encodeURIComponent(thread.after) +
      "&unread=" +
      thread.unread +
      (lookingAt() ? "&read=1" : "");
    return getFragment(url, "data-new-messages").then(
      function (fresh) {
        appendMessages(fresh);
        var after = fresh.getAttribute("data-after");
        if (after > thread.after) thread.after = after;
        thread.unread = count(fresh, "data-unread");
        // Reads may lag a write for a moment: look again a few times if the row's message
        // has not shown up yet.
        thread.behind =
          fresh.getAttribute("data-more") === "true" ||
          (thread.after < thread.rowSortKey && ++thread.tries < CATCH_UP_TRIES);
      },
      function (error) {
        if (retryable(error)) throw error;
        thread = null; // the token or the key is no good any more: a reload starts afresh
      }
    );
  }

  function tick() {
    timer = null;
    if (stopped || polling || document.visibilityState === "hidden") return;
    polling = true;
    pollInbox()
      .then(function () {
        if (thread && (thread.behind || (thread.unread > 0 && lookingAt()))) return pollThread();
      })
      .then(
        function () {
          failures = 0;
        },
        function (error) {
          if (retryable(error)) failures += 1;
          else stopped = true; // signed out: the next page load starts again
        }
      )
      .then(function () {
        polling = false;
        if (askAgain && !stopped) {
          askAgain = false;
          tick();
        } else {
          schedule();
        }
      });
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (stopped || document.visibilityState === "hidden") return;
    // With the stream open, only a conversation still catching up looks again by itself.
    if (streaming && !failures && !(thread && thread.behind)) return;
    var delay = INTERVAL;
    if (failures) {
      // Exponential backoff with some jitter, so tabs do not come back all at once.
      delay = Math.min(MAX_DELAY, INTERVAL * Math.pow(2, failures)) * (0.8 + Math.random() * 0.4);
    }
    timer = setTimeout(tick, delay);
  }

  function pollNow() {
    clearTimeout(timer);
    if (polling) askAgain = true; // it may have read before the change: look once more after
    else tick();
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      clearTimeout(timer);
      timer = null;
    } else {
      pollNow(); // catch up at once
    }
  });
  window.addEventListener("focus", function () {
    if (thread && thread.unread > 0) pollNow(); // mark read what came in while away
  });

  // --- the event stream ---

  function listen() {
    var source = new EventSource(eventsUrl);
    source.addEventListener("open", function () {
      streaming = true;
      if (streamOpened) pollNow(); // opened again: look once for what came meanwhile
      streamOpened = true;
      clearTimeout(timer);
      timer = null;
    });
    source.addEventListener("change", function () {
      pollNow();
    });
    source.addEventListener("error", function () {
      // The browser opens a lost stream again by itself; poll until it is back.
      streaming = false;
      if (!timer && !polling) schedule();
      if (source.readyState === EventSource.CLOSED) {
        // Refused (503: no broker, no ASGI server; 403: signed out): ask again later.
        setTimeout(function () {
          if (!stopped) listen();
        }, STREAM_RETRY * (0.8 + Math.random() * 0.4));
      }
    });
  }

  if (eventsUrl && window.EventSource) listen();
  schedule(); // until the stream is open
})();
