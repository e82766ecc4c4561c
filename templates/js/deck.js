/* Presenting deck.html: one slide per screen, keys, overview, blank screen and a speaker view.
 *
 * Our own small script instead of reveal.js: the slides keep reportgen's markup and print CSS
 * (WeasyPrint ignores scripts, so the PDF is unchanged), it works from file:// without a server,
 * and it is a few kilobytes instead of a framework with its own slide markup and themes.
 * Without JavaScript the page stays a scroll of all slides.
 *
 * Keys: next  -> Space PageDown N (and Down); previous  <- PageUp P (and Up);
 * Home / End; a number then Enter jumps; F fullscreen; O overview (all slides, click one);
 * B or . blanks the screen; S opens the speaker view (this page with ?speaker) in a second
 * window: current and next slide, notes, clock and a countdown from <body data-minutes>.
 * The address follows the slide (#/5 is slide 5). The windows stay in step by postMessage
 * (opener <-> speaker window) and a BroadcastChannel (which also survives a reload).
 */
(function () {
  "use strict";
  var root = document.documentElement;
  var body = document.body;
  var slides = Array.prototype.slice.call(document.querySelectorAll("body.deck > section.slide"));
  if (!slides.length) return;

  var speaker = new URLSearchParams(location.search).has("speaker");
  var minutes = parseFloat(body.getAttribute("data-minutes")) || 12;
  var deckId = "reportgen-deck:" + location.pathname;
  var slideW = slides[0].offsetWidth || 960; // measured while every slide is still shown
  var slideH = slides[0].offsetHeight || 540;
  var state = { index: 0, blank: false };
  var typed = ""; // digits typed before Enter
  var peer = null; // the other window: the speaker view we opened, or the deck that opened us
  var channel = "BroadcastChannel" in window ? new BroadcastChannel(deckId) : null;
  var ui = {};

  function element(tag, cls, parent, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text) node.textContent = text;
    (parent || body).appendChild(node);
    return node;
  }

  function fromHash() {
    var match = /^#\/(\d+)$/.exec(location.hash);
    if (match) return clamp(parseInt(match[1], 10) - 1);
    var target = location.hash.length > 1 ? document.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
    var slide = target && target.closest ? target.closest("section.slide") : null;
    return slide ? slides.indexOf(slide) : null;
  }

  function clamp(i) {
    return Math.max(0, Math.min(slides.length - 1, i));
  }

  /* Shows slide `index`; `remote` is true when the other window asked (then nothing is sent back). */
  function show(index, blank, remote) {
    state.index = clamp(index);
    state.blank = !!blank;
    slides.forEach(function (s, i) {
      s.classList.toggle("current", i === state.index);
      s.classList.toggle("upcoming", i === state.index + 1);
    });
    root.classList.toggle("rg-blank", state.blank && !speaker);
    var hash = "#/" + (state.index + 1);
    if (location.hash !== hash) history.replaceState(null, "", hash);
    if (speaker) updateSpeaker();
    if (root.getAttribute("data-view") === "overview") slides[state.index].scrollIntoView({ block: "nearest" });
    if (!remote) send({ type: "state", index: state.index, blank: state.blank });
  }

  function send(message) {
    message.deck = deckId;
    if (channel) channel.postMessage(message);
    var target = peer || window.opener;
    if (target && !target.closed) {
      try { target.postMessage(message, "*"); } catch (e) { /* the other window went away */ }
    }
  }

  function receive(message, source) {
    if (!message || message.deck !== deckId) return;
    if (source && source !== window) peer = source;
    if (message.type === "state") show(message.index, message.blank, true);
    else if (message.type === "hello" && !speaker) send({ type: "state", index: state.index, blank: state.blank });
  }

  function fit() {
    var w = window.innerWidth, h = window.innerHeight;
    if (!speaker) {
      root.style.setProperty("--deck-scale", Math.min(w / slideW, h / slideH));
      return;
    }
    var current = Math.min((0.62 * w) / slideW, (0.86 * h) / slideH);
    var next = Math.min((0.31 * w) / slideW, (0.34 * h) / slideH);
    root.style.setProperty("--current-scale", current);
    root.style.setProperty("--next-scale", next);
    ui.notes.style.top = "calc(11vh + " + Math.round(slideH * next) + "px + 3.5vh)";
  }

  function setView(view) {
    root.setAttribute("data-view", view);
    if (view === "overview") slides[state.index].scrollIntoView({ block: "center" });
    else window.scrollTo(0, 0);
    fit();
  }

  function toggleFullscreen() {
    var request = root.requestFullscreen ? root.requestFullscreen.bind(root) : null;
    var done = document.fullscreenElement ? document.exitFullscreen() : request && request();
    if (done && done.catch) done.catch(function () { /* refused: not from a key press */ });
  }

  function openSpeaker() {
    var url = new URL(location.href);
    url.search = "?speaker";
    url.hash = "#/" + (state.index + 1);
    var win = window.open(url.href, "reportgen-speaker", "width=1280,height=780");
    if (win) peer = win;
    else flash("The browser blocked the speaker window: allow pop-ups for this page, then press S again.");
  }

  function flash(text) {
    ui.goto.textContent = text;
    ui.goto.classList.add("shown");
    clearTimeout(flash.timer);
    flash.timer = setTimeout(function () { ui.goto.classList.remove("shown"); typed = ""; }, 4000);
  }

  var NEXT = [" ", "ArrowRight", "ArrowDown", "PageDown", "n", "N"];
  var PREVIOUS = ["ArrowLeft", "ArrowUp", "PageUp", "p", "P"];

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (/^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(event.target.tagName)) return;
    var key = event.key, handled = true;
    if (/^[0-9]$/.test(key)) {
      typed += key;
      flash("Go to slide " + typed + " (Enter)");
      event.preventDefault();
      return;
    }
    if (key === "Enter" && typed) show(parseInt(typed, 10) - 1, false);
    else if (NEXT.indexOf(key) >= 0) show(event.shiftKey && key === " " ? state.index - 1 : state.index + 1, false);
    else if (PREVIOUS.indexOf(key) >= 0) show(state.index - 1, false);
    else if (key === "Home") show(0, false);
    else if (key === "End") show(slides.length - 1, false);
    else if (key === "b" || key === "B" || key === ".") show(state.index, !state.blank);
    else if (key === "f" || key === "F") toggleFullscreen();
    else if ((key === "o" || key === "O") && !speaker) setView(root.getAttribute("data-view") === "overview" ? "present" : "overview");
    else if (key === "Escape" && root.getAttribute("data-view") === "overview") setView("present");
    else if ((key === "s" || key === "S") && !speaker) openSpeaker();
    else handled = false;
    if (typed) { typed = ""; ui.goto.classList.remove("shown"); }
    if (handled) event.preventDefault();
  }

  /* --- speaker view ------------------------------------------------------------------ */

  var started = Date.now(), pausedAt = null;

  function buildSpeaker() {
    var panel = element("div", "rg-speaker");
    var bar = element("header", "", panel);
    ui.position = element("span", "rg-position", bar);
    ui.clock = element("span", "rg-clock", bar);
    ui.elapsed = element("span", "rg-elapsed", bar);
    ui.remaining = element("span", "rg-remaining", bar);
    var pause = element("button", "", bar, "pause");
    var reset = element("button", "", bar, "restart");
    ui.blanked = element("span", "rg-blanked", bar, "screen blanked (B)");
    pause.addEventListener("click", function () {
      pause.blur(); // keys go back to the slides, not to the button
      if (pausedAt === null) { pausedAt = Date.now(); pause.textContent = "resume"; }
      else { started += Date.now() - pausedAt; pausedAt = null; pause.textContent = "pause"; }
      tick();
    });
    reset.addEventListener("click", function () { reset.blur(); started = Date.now(); if (pausedAt !== null) pausedAt = started; tick(); });
    element("div", "rg-label rg-label-current", panel, "Current slide");
    element("div", "rg-label rg-label-next", panel, "Next");
    ui.end = element("div", "rg-end", panel, "End of the deck");
    ui.notes = element("div", "rg-notes", panel);
    document.title = "Speaker view — " + document.title;
    setInterval(tick, 500);
  }

  function clockText(seconds) {
    var s = Math.abs(Math.round(seconds));
    var text = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
    return seconds < 0 ? "\u2212" + text : text;
  }

  function tick() {
    var elapsed = ((pausedAt === null ? Date.now() : pausedAt) - started) / 1000;
    var left = minutes * 60 - elapsed;
    ui.clock.textContent = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    ui.elapsed.textContent = "elapsed " + clockText(elapsed);
    ui.remaining.textContent = clockText(left) + " left of " + minutes + " min";
    ui.remaining.classList.toggle("ending", left <= 120 && left > 0);
    ui.remaining.classList.toggle("over", left <= 0);
  }

  function updateSpeaker() {
    var notes = slides[state.index].querySelector(":scope > aside.notes");
    ui.notes.innerHTML = notes && notes.innerHTML.trim() ? notes.innerHTML : "<p class=\"rg-none\">No notes for this slide.</p>";
    ui.position.textContent = "Slide " + (state.index + 1) + " / " + slides.length;
    ui.end.style.display = state.index + 1 < slides.length ? "none" : "block";
    ui.blanked.style.display = state.blank ? "inline" : "none";
  }

  /* --- start ------------------------------------------------------------------------- */

  ui.blank = element("div", "rg-blank-screen");
  ui.goto = element("div", "rg-goto");
  if (speaker) buildSpeaker();
  setView(speaker ? "speaker" : "present");
  window.addEventListener("resize", fit);
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", function () {
    var index = fromHash();
    if (index !== null && index !== state.index) show(index, false);
  });
  window.addEventListener("message", function (event) { receive(event.data, event.source); });
  if (channel) channel.onmessage = function (event) { receive(event.data, null); };
  slides.forEach(function (slide, i) {
    slide.addEventListener("click", function () {
      if (root.getAttribute("data-view") === "overview") { show(i, false); setView("present"); }
    });
  });
  var initial = fromHash();
  show(initial === null ? 0 : initial, false, speaker);
  if (speaker) { tick(); send({ type: "hello" }); }
})();
