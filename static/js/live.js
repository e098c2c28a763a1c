// Live updates on the messaging pages: the bridge from the server's event stream to htmx.
// The pages work without it (reloading shows everything).
//
// htmx fetches and swaps. A page keeps its live state in a hidden form (#live,
// templates/messaging/_live.html); sending it asks the live poll (messaging/live_views.py)
// what changed, and its one answer holds the form's next state and out-of-band swaps for the
// badge, the list and the new messages, which the server drew joined to the one shown last.
// This script says when to send it, and does what htmx cannot:
// - The event stream (/messages/events/) says something changed: one stream per browser (a
//   browser opens at most 6 connections to a host over HTTP/1.1): the tab holding the Web
//   Lock opens it and tells the others over a BroadcastChannel. Each time it opens again the
//   form is sent once, so nothing sent meanwhile is missed; `signed-out` reloads every tab.
// - Without a stream (no EventSource, refused, a buffering proxy) a timer sends it; it pauses
//   while the tab is hidden and backs off while the server answers 503 or cannot be reached,
//   with a "Live updates paused" line. A 403 (signed out elsewhere) reloads the page, and so
//   does a 404 (the person left the group this page shows, in another tab).
// - A tab in front marks read what it shows (read=1); the unread count goes in the title.
// - The thread stays at its newest message; "Earlier messages" (hx-get) keeps what was on
//   screen in place and moves the keyboard to the first message loaded.
(function () {
  "use strict";

  const INTERVAL = 1500; // ms between polls: a new message shows within about two seconds
  const MAX_DELAY = 30000; // the backoff's cap
  const STREAM_RETRY = 30000; // a stream refused: poll this long before asking again
  const PAUSED_AFTER = 2; // failed polls in a row before the page says live updates are paused
  const BACK_FOR = 3000; // ms "Live updates are back" stays
  const AGAIN_TRIES = 3; // answers in a row that may ask to look again soon (reads that lag)

  let live = document.getElementById("live");
  if (!live || !window.htmx) return;

  let failures = 0;
  let timer = null;
  let stopped = false;
  let streaming = false; // the event stream is open: no timer
  let streamOpened = false; // it has been open before: a new open may have missed events
  let askedAgain = false; // the answer under way said to look again soon
  let changed = false; // the stream said something changed: also ask for edits and unsends
  let behind = 0; // answers in a row that said so
  let bannerTimer = null;
  let title = baseTitle(); // the tab's title without its "(n) " unread count

  function field(name) {
    return live.elements[name] ? live.elements[name].value : "";
  }

  function poll() {
    clearTimeout(timer);
    timer = null;
    if (stopped || document.visibilityState === "hidden") return;
    htmx.trigger(live, "cruddur:poll"); // queued behind one under way (hx-sync)
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (stopped || document.visibilityState === "hidden") return;
    // With the stream open, only a conversation still catching up looks again by itself.
    if (streaming && !failures && !(behind && behind < AGAIN_TRIES)) return;
    let delay = failures ? Math.min(MAX_DELAY, INTERVAL * Math.pow(2, failures)) : INTERVAL;
    timer = setTimeout(poll, jitter(delay));
  }

  // Up to a fifth sooner: pages that lost the same server do not all come back at once.
  function jitter(delay) {
    return delay * (0.8 + Math.random() * 0.2);
  }

  // The session is over: reloading shows the login page, which brings the person back here.
  function signedOut() {
    stopped = true;
    window.location.reload();
  }

  let leaving = false; // the page is navigating away (a form sent, a link followed)
  window.addEventListener("beforeunload", function () {
    leaving = true;
  });
  window.addEventListener("pageshow", function () {
    leaving = false; // back from the browser's cache: this page is here again
  });

  live.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt !== live) return;
    askedAgain = false;
    if (changed) {
      event.detail.parameters.changed = "1"; // an older message may have been edited or unsent
      changed = false;
    }
    // The person is looking at this tab (in front, its window focused): what it shows is read.
    if (document.visibilityState === "visible" && document.hasFocus()) {
      event.detail.parameters.read = "1";
    }
  });
  live.addEventListener("cruddur:again", function () {
    askedAgain = true; // the server's HX-Trigger
  });
  live.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.elt !== live) return;
    let status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (event.detail.successful) {
      failures = 0;
      behind = askedAgain ? behind + 1 : 0;
      showPaused(false);
      showUnreadInTitle();
      followThread();
    } else if (!status || status === 429 || status >= 500) {
      failures += 1; // try again later
      if (failures >= PAUSED_AFTER) showPaused(true);
    } else if (status === 403) {
      signedOut(); // elsewhere: in another tab, another browser, by a password change
      return;
    } else if (status === 404) {
      // The open conversation is no longer this person's (they left the group in another
      // tab): reloading shows its 404 page, as without JavaScript. Not when this page is
      // already on its way elsewhere (its own Leave form sent): the reload would cancel that.
      stopped = true;
      if (!leaving) window.location.reload();
      return;
    } else {
      stopped = true; // a bad token or state will not change by asking again: a reload will
    }
    schedule();
  });

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") schedule();
    else poll(); // catch up at once
  });
  window.addEventListener("focus", function () {
    if (parseInt(field("unread"), 10) > 0) poll(); // mark read what came in while away
  });

  // --- the unread count in the tab's title ("(3) Messages") ---

  function unreadCount() {
    let badge = document.getElementById("unread-badge"); // "3 unread", or nothing
    return (badge && parseInt(badge.textContent, 10)) || 0;
  }

  function baseTitle() {
    let prefix = "(" + unreadCount() + ") "; // the server wrote it in front when n > 0
    let text = document.title;
    return text.indexOf(prefix) === 0 ? text.slice(prefix.length) : text;
  }

  function showUnreadInTitle() {
    let text = (unreadCount() ? "(" + unreadCount() + ") " : "") + title;
    if (document.title !== text) document.title = text;
  }

  // --- the event stream ---

  // What the stream says, in every tab: "open", "change", "closed" or "signed-out".
  function heard(what) {
    if (what === "open") {
      streaming = true;
      showPaused(false); // the server answers again
      // Opened again: look once for what came meanwhile. A page drawn without a state (the
      // new conversation page reads no inbox) looks once to show the unread count.
      if (streamOpened || !field("since")) {
        changed = streamOpened; // edits and unsends meanwhile too
        poll();
      }
      streamOpened = true;
      schedule();
    } else if (what === "change") {
      changed = true;
      poll();
    } else if (what === "closed") {
      streaming = false; // poll until it is back
      if (!timer) schedule();
    } else if (what === "signed-out") {
      signedOut();
    }
  }

  // Opens the stream and tells `tell` what it says.
  function listen(tell) {
    let source = new EventSource(live.getAttribute("data-events-url"));
    ["open", "change"].forEach((what) => { source.addEventListener(what, tell.bind(null, what)); });
    source.addEventListener("signed-out", function () {
      source.close(); // no reconnecting: the session is over
      tell("signed-out");
    });
    source.addEventListener("error", function () {
      // The browser opens a lost stream again by itself (after the server's `retry:`).
      tell("closed");
      if (source.readyState === EventSource.CLOSED) {
        // Refused (503: no broker, no ASGI server; 403: signed out): ask again later.
        setTimeout(() => { if (!stopped) listen(tell); }, jitter(STREAM_RETRY));
      }
    });
  }

  // The tab holding the lock listens for all; the others hear it over the channel, and ask
  // once what the stream is doing (the leader answers with its last open or closed).
  function shareStream() {
    let channel = new BroadcastChannel("cruddur:events");
    let told = null; // in the leader: "open" or "closed", for tabs that ask
    channel.onmessage = function (event) {
      if (event.data.what !== "ask") heard(event.data.what);
      else if (told) channel.postMessage({ what: told });
    };
    navigator.locks
      .request("cruddur:events", function () {
        listen(function (what) {
          if (what !== "change") told = what;
          channel.postMessage({ what: what });
          heard(what);
        });
        return new Promise(function () {}); // held until this tab closes
      })
      .catch(function () {
        listen(heard); // no lock to be had here: a stream of its own
      });
    channel.postMessage({ what: "ask" });
  }

  // --- "Live updates paused" ---

  // A line in the top bar (#live-banner, a live region that is there from the start, so
  // screen readers hear it change; empty, it takes no room), while live updates are paused
  // and for a moment after they are back. It never takes the focus.
  function showPaused(paused) {
    let banner = document.getElementById("live-banner");
    let showing = !!banner && !!banner.textContent && !banner.classList.contains("is-back");
    if (!banner || paused === showing || (!paused && !banner.textContent)) return;
    clearTimeout(bannerTimer);
    banner.classList.toggle("is-back", !paused);
    banner.textContent = paused ? "Live updates paused — trying again…" : "Live updates are back.";
    if (!paused) {
      bannerTimer = setTimeout(() => { banner.textContent = ""; }, BACK_FOR);
    }
  }

  // --- the thread ---

  let box = document.querySelector("[data-thread]");
  let list = document.getElementById("thread-messages");
  let atEnd = true;

  function threadAtEnd() {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  // New messages came, the reply box grew (an error under it, a longer text, a phone's
  // keyboard), the window was resized: a thread that was at its end stays there.
  function followThread() {
    if (box && atEnd && box.hasAttribute("data-scroll-end")) box.scrollTop = box.scrollHeight;
  }

  if (box && list) {
    followThread(); // the newest message is at the bottom: start there, as a chat does
    box.addEventListener("scroll", () => { atEnd = threadAtEnd(); }, { passive: true });
    if (window.ResizeObserver) new ResizeObserver(followThread).observe(box);

    // "Earlier messages": what was on screen stays where it was.
    let anchor = null;
    let anchorTop = 0;
    let quiet = null;
    let politeness = list.getAttribute("aria-live");
    box.addEventListener("htmx:beforeSwap", function (event) {
      if (event.detail.target.id !== "earlier") return;
      anchor = list.querySelector("li.msg");
      anchorTop = anchor ? anchor.getBoundingClientRect().top : 0;
      clearTimeout(quiet);
      list.setAttribute("aria-live", "off"); // it announces arrivals, not a page of old ones
    });
    box.addEventListener("htmx:afterRequest", function (event) {
      if (!event.detail.target || event.detail.target.id !== "earlier") return;
      if (!event.detail.successful) {
        window.location.assign(event.detail.pathInfo.requestPath); // the page, as without JS
        return;
      }
      let shift = anchor ? anchor.getBoundingClientRect().top - anchorTop : 0;
      if (box.scrollHeight > box.clientHeight) box.scrollTop += shift; // the thread scrolls
      else window.scrollBy(0, shift); // a short window: the page does
      let first = list.querySelector("li.msg");
      first.setAttribute("tabindex", "-1");
      first.focus({ preventScroll: true });
      quiet = setTimeout(() => { list.setAttribute("aria-live", politeness); }, 1000);
    });
  }

  // --- Unsend and Edit under one's own messages ---

  // Their forms post by htmx (hx-post, data-in-place) and the answer, the bubble as it is now,
  // takes the old one's place; the keyboard goes to its row (the row stays when the live poll
  // draws the bubble again). Any other answer (a refusal, the edit form with an error, no
  // answer) sends the form again as without JavaScript, so the person sees the page the server
  // draws for it: nothing was changed, so sending it again is safe.
  let focusRow = null;
  function inPlace(event) {
    let config = event.detail.requestConfig; // beforeSwap's elt is the target: the bubble
    let form = config ? config.elt : event.detail.elt;
    return form && form.matches && form.matches("form[data-in-place]") ? form : null;
  }
  ["htmx:responseError", "htmx:sendError", "htmx:timeout"].forEach(function (name) {
    document.body.addEventListener(name, function (event) {
      let form = inPlace(event);
      if (form) form.submit();
    });
  });
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    let form = inPlace(event);
    if (form && event.detail.shouldSwap) focusRow = form.closest("li");
  });

  // Edit goes when its message's edit window closes, unless it is open with a text being
  // typed: the server then refuses the edit with a sentence and keeps the text.
  function closeEditWindows(root) {
    root.querySelectorAll("details[data-edit-until]").forEach(function (control) {
      let left = Date.parse(control.getAttribute("data-edit-until")) - Date.now();
      control.removeAttribute("data-edit-until"); // one timer each
      setTimeout(() => { if (!control.open) control.remove(); }, Math.max(0, left));
    });
  }
  closeEditWindows(document);
  document.body.addEventListener("htmx:load", function (event) {
    closeEditWindows(event.detail.elt);
    if (focusRow && focusRow.contains(event.detail.elt)) {
      focusRow.setAttribute("tabindex", "-1");
      focusRow.focus({ preventScroll: true });
      focusRow = null;
    }
  });

  if (live.hasAttribute("data-events-url") && window.EventSource) {
    if (navigator.locks && window.BroadcastChannel) shareStream();
    else listen(heard); // each tab its own stream
  }
  schedule(); // until the stream is open
})();
