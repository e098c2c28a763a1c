// Live updates on the messaging pages: new messages in an open conversation, the inbox list
// and the unread count in the navigation, by polling two small JSON endpoints
// (messaging/views.py: inbox_poll, conversation_poll). Small and framework-free; the pages work
// without it (reloading shows everything).
//
// One poll per tick asks "did my first inbox page change?" (one small DynamoDB read). Only when
// it did does the tick fetch more: the redrawn list, and the open conversation's new messages.
// Polling pauses while the tab is hidden and backs off while the server answers 503 or cannot
// be reached. Text is only ever set with textContent.
(function () {
  "use strict";

  var INTERVAL = 1500; // ms between polls: a new message shows within about two seconds
  var MAX_DELAY = 30000; // the backoff's cap
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
  var stopped = false;

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

  function getJSON(url) {
    var controller = window.AbortController ? new AbortController() : null;
    var timeout = controller
      ? setTimeout(function () {
          controller.abort();
        }, TIMEOUT)
      : null;
    return fetch(url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
      signal: controller ? controller.signal : undefined,
    }).then(
      function (response) {
        clearTimeout(timeout);
        var type = response.headers.get("Content-Type") || "";
        if (response.ok && type.indexOf("application/json") === 0) return response.json();
        throw { status: response.status };
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

  // --- drawing (the same markup as the templates) ---

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function badge(count) {
    var node = el("span", "badge", String(count));
    node.appendChild(el("span", "visually-hidden", " unread"));
    return node;
  }

  function timeElement(className, item) {
    var node = el("time", className, item.when);
    node.setAttribute("datetime", item.datetime);
    node.setAttribute("title", item.title);
    return node;
  }

  function showUnread(count) {
    if (!navCount) return;
    while (navCount.firstChild) navCount.removeChild(navCount.firstChild);
    if (count > 0) navCount.appendChild(badge(count));
  }

  // templates/messaging/_conversation_list.html
  function rowItem(row) {
    var link = el("a", row.unread ? "convo is-unread" : "convo");
    link.setAttribute("href", row.url);
    if (row.uuid === reading) link.setAttribute("aria-current", "page");
    var avatar = el("span", "avatar", row.initial);
    avatar.setAttribute("aria-hidden", "true");
    var who = el("span", "convo-who");
    who.appendChild(el("span", "convo-name", row.name));
    who.appendChild(document.createTextNode(" "));
    who.appendChild(el("span", "handle", "@" + row.handle));
    var head = el("span", "convo-head");
    head.appendChild(who);
    head.appendChild(timeElement("convo-when", row));
    var main = el("span", "convo-main");
    main.appendChild(head);
    main.appendChild(el("span", "convo-last", row.last_message));
    link.appendChild(avatar);
    link.appendChild(main);
    if (row.unread) link.appendChild(badge(row.unread));
    var item = el("li");
    item.appendChild(link);
    return item;
  }

  function drawRows(rows, olderUrl) {
    var focused = list.contains(document.activeElement)
      ? document.activeElement.getAttribute("href")
      : null;
    while (list.firstChild) list.removeChild(list.firstChild);
    rows.forEach(function (row) {
      list.appendChild(rowItem(row));
    });
    if (focused) {
      // Keep the keyboard where it was.
      list.querySelectorAll("a").forEach(function (link) {
        if (link.getAttribute("href") === focused) link.focus();
      });
    }
    var empty = document.querySelector("[data-live-empty]");
    if (empty) empty.hidden = rows.length > 0;
    // The first page's "Older" link follows the redrawn page (a reload adds a missing one).
    var older = document.querySelector("[data-live-older] a[rel=next]");
    if (older) {
      older.hidden = !olderUrl;
      if (olderUrl) older.setAttribute("href", olderUrl);
    }
  }

  // templates/messaging/conversation.html
  function appendMessage(message) {
    if (thread.seen[message.uuid]) return;
    thread.seen[message.uuid] = true;
    var box = thread.element;
    var atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    var item = el("li", message.mine ? "msg msg-mine" : "msg");
    item.setAttribute("data-message-uuid", message.uuid);
    var meta = el("p", "msg-meta");
    meta.appendChild(el("span", "msg-author", message.author));
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(timeElement(null, message));
    var bubble = el("div", "bubble");
    bubble.appendChild(meta);
    bubble.appendChild(el("p", "msg-text", message.text));
    item.appendChild(bubble);
    thread.messages.appendChild(item);
    if (atEnd) box.scrollTop = box.scrollHeight; // follow the conversation, unless reading back
  }

  // --- polls ---

  function pollInbox() {
    var url = inboxUrl + "?since=" + encodeURIComponent(state);
    if (list) url += "&rows=1";
    if (thread && lookingAt()) url += "&reading=" + encodeURIComponent(reading);
    return getJSON(url).then(function (data) {
      state = data.state;
      showUnread(data.unread_conversations);
      if (!data.rows) return;
      if (list) drawRows(data.rows, data.older_url);
      if (thread) noticeOwnRow(data);
    });
  }

  function noticeOwnRow(data) {
    data.rows.forEach(function (row) {
      if (row.uuid !== reading) return;
      if (row.sort_key !== thread.rowSortKey) {
        thread.rowSortKey = row.sort_key;
        thread.behind = true;
        thread.tries = 0;
      }
    });
    // The list shows this conversation as read because this tab will mark it: make sure it does.
    if (!thread.behind && data.reading_unread > thread.unread) thread.unread = data.reading_unread;
  }

  function pollThread() {
    var url =
      thread.url +
      "&after=" +
      encodeURIComponent(thread.after) +
      "&unread=" +
      thread.unread +
      (lookingAt() ? "&read=1" : "");
    return getJSON(url).then(
      function (data) {
        data.messages.forEach(appendMessage);
        if (data.after > thread.after) thread.after = data.after;
        thread.unread = data.unread;
        // Reads may lag a write for a moment: look again a few times if the row's message
        // has not shown up yet.
        thread.behind =
          data.more || (thread.after < thread.rowSortKey && ++thread.tries < CATCH_UP_TRIES);
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
        schedule();
      });
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (stopped || document.visibilityState === "hidden") return;
    var delay = INTERVAL;
    if (failures) {
      // Exponential backoff with some jitter, so tabs do not come back all at once.
      delay = Math.min(MAX_DELAY, INTERVAL * Math.pow(2, failures)) * (0.8 + Math.random() * 0.4);
    }
    timer = setTimeout(tick, delay);
  }

  function pollNow() {
    clearTimeout(timer);
    if (!polling) tick();
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
  schedule();
})();
