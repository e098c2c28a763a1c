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
// One stream per browser, not per tab (a browser opens at most 6 connections to a host over
// HTTP/1.1): the tab holding a Web Lock opens it and passes what it says to the other tabs
// over a BroadcastChannel; when that tab closes, the lock and the stream pass to another.
// The server ends the stream of a session that ended with `signed-out`: every tab reloads,
// and the server answers with the login page (as it does when a poll finds the person
// signed out).
//
// The server renders every row, message and badge with the pages' own templates. A poll answers
// an HTML fragment whose root element carries the state in data-* attributes; this script
// parses it with DOMParser (which runs no scripts) and swaps its elements in. The only text of
// its own is for the tab's title (the unread count), the "Live updates paused" line and what
// a screen reader hears after "Earlier messages".
//
// Lists of messages are joined where they meet: each list the server renders (a page, a poll's
// answer, a message sent without reload) starts with a day separator and groups a person's
// messages of one day (msg-continued) within itself; rejoin() applies the same rules across
// the joined list. "Earlier messages" loads the previous page above, in place: the server's
// page for that cursor, the same page the link opens without JavaScript.
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
  var PAUSED_AFTER = 2; // failed polls in a row before the page says live updates are paused
  var BACK_FOR = 3000; // ms "Live updates are back" stays
  var banner = null; // the "Live updates paused" line, while there is one
  var bannerTimer = null;
  var title = baseTitle(); // the tab's title without its "(n) " unread count

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

  function isMessage(item) {
    return item.hasAttribute("data-message-uuid");
  }

  function isSeparator(item) {
    return item.classList.contains("day-separator");
  }

  // The message list as one: a day separator only where the day changes (before the first
  // message of its day), and msg-continued on a message that follows one of the same person
  // on the same day. The server draws each list by these rules; lists joined here (a page
  // loaded above, new messages below) follow them across the seams.
  function rejoin(messages) {
    var day = null;
    var previous = null;
    Array.prototype.slice.call(messages.children).forEach(function (item) {
      if (isSeparator(item)) {
        var next = item.nextElementSibling;
        while (next && !isMessage(next)) next = next.nextElementSibling;
        var separatorDay = item.getAttribute("data-day");
        if (separatorDay === day || !next || next.getAttribute("data-day") !== separatorDay) {
          messages.removeChild(item); // the day runs on from above, or nothing of it follows
        } else {
          day = separatorDay;
        }
      } else if (isMessage(item)) {
        var itemDay = item.getAttribute("data-day");
        item.classList.toggle(
          "msg-continued",
          !!previous &&
            previous.getAttribute("data-sender") === item.getAttribute("data-sender") &&
            previous.getAttribute("data-day") === itemDay
        );
        previous = item;
        day = itemDay;
      }
    });
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
    showUnreadInTitle();
  }

  // The badge reads "3 unread" (or nothing): the number of conversations with unread messages.
  function unreadCount() {
    return (navCount && parseInt(navCount.textContent, 10)) || 0;
  }

  function baseTitle() {
    var drawn = unreadCount(); // the server wrote "(n) " in front when n > 0
    var prefix = "(" + drawn + ") ";
    var text = document.title;
    return drawn && text.indexOf(prefix) === 0 ? text.slice(prefix.length) : text;
  }

  function showUnreadInTitle() {
    var unread = unreadCount();
    var text = (unread ? "(" + unread + ") " : "") + title;
    if (document.title !== text) document.title = text;
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

  function threadAtEnd(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  function appendMessages(fresh) {
    var box = thread.element;
    var atEnd = threadAtEnd(box);
    Array.prototype.slice.call(fresh.children).forEach(function (item) {
      if (isMessage(item)) {
        var uuid = item.getAttribute("data-message-uuid");
        if (thread.seen[uuid]) return; // sent from this page, or shown by an earlier answer
        thread.seen[uuid] = true;
      } else if (!isSeparator(item)) {
        return;
      }
      thread.messages.appendChild(adopt(item));
    });
    rejoin(thread.messages);
    if (atEnd) box.scrollTop = box.scrollHeight; // follow the conversation, unless reading back
  }

  // compose.js put a message the person sent into the list, without a reload.
  document.addEventListener("cruddur:message-sent", function (event) {
    var item = event.detail && event.detail.element;
    var messages = item && item.parentNode;
    if (!messages || !item.hasAttribute("data-message-uuid")) return;
    var uuid = item.getAttribute("data-message-uuid");
    if (thread) thread.seen[uuid] = true; // the poll's answer will not add it again
    // A poll's answer may have brought it first: one copy, the one compose.js holds.
    messages.querySelectorAll("[data-message-uuid]").forEach(function (other) {
      if (other !== item && other.getAttribute("data-message-uuid") === uuid) {
        messages.removeChild(other);
      }
    });
    rejoin(messages);
  });

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
          showPaused(false);
        },
        function (error) {
          if (retryable(error)) {
            failures += 1;
            if (failures >= PAUSED_AFTER) showPaused(true);
          } else if (error.status === 403) {
            signedOut(); // elsewhere: in another tab, another browser, by a password change
          } else {
            stopped = true; // the next page load starts again
          }
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
    // Exponential backoff while polls fail.
    var delay = failures ? Math.min(MAX_DELAY, INTERVAL * Math.pow(2, failures)) : INTERVAL;
    timer = setTimeout(tick, jitter(delay));
  }

  // Up to a fifth sooner (never later than promised): pages that lost the same server, or
  // its stream, do not all come back at the same moment.
  function jitter(delay) {
    return delay * (0.8 + Math.random() * 0.2);
  }

  // The session is over: reloading shows the login page, which brings the person back here.
  function signedOut() {
    stopped = true;
    window.location.reload();
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

  // What the stream says, in every tab: "open", "change", "closed" or "signed-out".
  function heard(what) {
    if (what === "open") {
      streaming = true;
      showPaused(false); // the server answers again
      // Opened again: look once for what came meanwhile. A page drawn without a state (the
      // new conversation page reads no inbox) looks once to show the unread count.
      if (streamOpened || !state) pollNow();
      streamOpened = true;
      clearTimeout(timer);
      timer = null;
    } else if (what === "change") {
      pollNow();
    } else if (what === "closed") {
      streaming = false; // poll until it is back
      if (!timer && !polling) schedule();
    } else if (what === "signed-out") {
      signedOut();
    }
  }

  // Opens the stream and tells `tell` what it says.
  function listen(tell) {
    var source = new EventSource(eventsUrl);
    source.addEventListener("open", function () {
      tell("open");
    });
    source.addEventListener("change", function (event) {
      tell("change", event.data);
    });
    source.addEventListener("signed-out", function () {
      source.close(); // no reconnecting: the session is over
      tell("signed-out");
    });
    source.addEventListener("error", function () {
      // The browser opens a lost stream again by itself (after the server's `retry:`).
      tell("closed");
      if (source.readyState === EventSource.CLOSED) {
        // Refused (503: no broker, no ASGI server; 403: signed out): ask again later.
        setTimeout(function () {
          if (!stopped) listen(tell);
        }, jitter(STREAM_RETRY));
      }
    });
  }

  // The tab holding the lock listens for all; the others hear it over the channel, and ask
  // once what the stream is doing (the leader answers with its last open or closed).
  function shareStream() {
    var channel = new BroadcastChannel("cruddur:events");
    var told = null; // in the leader: "open" or "closed", for tabs that ask
    channel.onmessage = function (event) {
      if (event.data.what !== "ask") heard(event.data.what);
      else if (told) channel.postMessage({ what: told });
    };
    navigator.locks.request("cruddur:events", function () {
      listen(function (what, data) {
        if (what !== "change") told = what;
        channel.postMessage({ what: what, data: data });
        heard(what);
      });
      return new Promise(function () {}); // held until this tab closes
    }).catch(function () {
      listen(heard); // no lock to be had here: a stream of its own
    });
    channel.postMessage({ what: "ask" });
  }

  // --- "Live updates paused" ---

  // A line at the end of the top bar, there only while live updates are paused (and for a
  // moment after they are back). It is a live region: made empty first and filled a moment
  // later, so that screen readers hear it; it never takes the focus.
  function showPaused(paused) {
    var showing = !!banner && !banner.classList.contains("is-back");
    if (paused === showing) return;
    clearTimeout(bannerTimer);
    if (!paused && !banner.textContent) {
      remove(banner); // back before it said anything
      banner = null;
      return;
    }
    if (!paused) {
      say("Live updates are back.", true);
      bannerTimer = setTimeout(function () {
        remove(banner);
        banner = null;
      }, BACK_FOR);
      return;
    }
    if (banner) {
      say("Live updates paused — trying again…", false);
      return;
    }
    banner = document.createElement("div");
    banner.className = "live-banner";
    banner.setAttribute("role", "status");
    var bar = document.querySelector(".topbar");
    if (bar) bar.appendChild(banner);
    else document.body.insertBefore(banner, document.body.firstChild);
    bannerTimer = setTimeout(function () {
      say("Live updates paused — trying again…", false);
    }, 150);
  }

  function remove(element) {
    if (element.parentNode) element.parentNode.removeChild(element);
  }

  function say(text, back) {
    banner.classList.toggle("is-back", back);
    banner.textContent = text;
  }

  // --- the thread stays at its newest message when it gets shorter ---

  // The reply box grows (an error under it, a longer text, a phone's keyboard), the line above
  // comes and goes, the window is resized: a thread that was at its end stays there.
  function stayAtEnd(box) {
    if (!box || !window.ResizeObserver) return;
    var atEnd = threadAtEnd(box);
    box.addEventListener(
      "scroll",
      function () {
        atEnd = threadAtEnd(box);
      },
      { passive: true }
    );
    new ResizeObserver(function () {
      if (atEnd) box.scrollTop = box.scrollHeight;
    }).observe(box);
  }

  // --- "Earlier messages": the previous page, loaded above the first message ---

  function setUpEarlier() {
    var box = document.querySelector("[data-thread]");
    var messages = box && box.querySelector("[data-live-messages]");
    if (!messages) return;
    var status = document.querySelector("[data-thread-status]");
    var politeness = messages.getAttribute("aria-live");
    var quiet = null; // the timer that lets the list announce arrivals again
    var loading = false;

    box.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a[rel=prev]") : null;
      if (!link || event.defaultPrevented || event.button !== 0) return;
      if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return; // a new tab
      if (link.origin !== window.location.origin) return;
      event.preventDefault();
      if (loading) return;
      loading = true;
      link.setAttribute("aria-busy", "true");
      getFragment(link.href, "data-thread").then(
        function (page) {
          loading = false;
          link.removeAttribute("aria-busy");
          insertEarlier(link, page);
        },
        function () {
          window.location.assign(link.href); // the page itself, as without JavaScript
        }
      );
    });

    function insertEarlier(link, page) {
      var earlier = page.querySelector("[data-live-messages]");
      var top = page.querySelector("a[rel=prev]");
      top = top ? top.closest(".pager") : page.querySelector(".thread-start");
      var anchor = messages.querySelector("[data-message-uuid]");
      var anchorTop = anchor ? anchor.getBoundingClientRect().top : 0;
      var shown = {};
      messages.querySelectorAll("[data-message-uuid]").forEach(function (item) {
        shown[item.getAttribute("data-message-uuid")] = true;
      });
      var added = [];
      var fragment = document.createDocumentFragment();
      Array.prototype.slice.call(earlier ? earlier.children : []).forEach(function (item) {
        if (isMessage(item)) {
          var uuid = item.getAttribute("data-message-uuid");
          if (shown[uuid]) return;
          if (thread) thread.seen[uuid] = true;
          item = adopt(item);
          added.push(item);
        } else if (isSeparator(item)) {
          item = adopt(item);
        } else {
          return;
        }
        fragment.appendChild(item);
      });
      // The list announces new messages as they arrive; not a page of old ones.
      clearTimeout(quiet);
      if (politeness) messages.setAttribute("aria-live", "off");
      messages.insertBefore(fragment, messages.firstChild);
      rejoin(messages);
      var pager = link.closest(".pager");
      if (top && pager) pager.parentNode.replaceChild(adopt(top), pager);
      else if (pager) pager.parentNode.removeChild(pager);
      // Keep what was on screen where it was: the first message shown before stays put.
      var shift = anchor ? anchor.getBoundingClientRect().top - anchorTop : 0;
      if (shift) {
        if (box.scrollHeight > box.clientHeight && getComputedStyle(box).overflowY !== "visible") {
          box.scrollTop += shift;
        } else {
          window.scrollBy(0, shift);
        }
      }
      quiet = setTimeout(function () {
        if (politeness) messages.setAttribute("aria-live", politeness);
      }, 1000);
      if (added.length) {
        added[0].setAttribute("tabindex", "-1");
        added[0].focus({ preventScroll: true });
      }
      announce(
        added.length === 1 ? "1 earlier message loaded." : added.length + " earlier messages loaded."
      );
    }

    function announce(text) {
      if (!status) return;
      status.textContent = ""; // the same words twice in a row are still said twice
      setTimeout(function () {
        status.textContent = text;
      }, 100);
    }
  }

  stayAtEnd(document.querySelector("[data-thread][data-scroll-end]"));
  setUpEarlier();
  if (eventsUrl && window.EventSource) {
    if (navigator.locks && window.BroadcastChannel) shareStream();
    else listen(heard); // each tab its own stream, as before
  }
  schedule(); // until the stream is open
})();
