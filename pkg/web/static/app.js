// balcony's pages follow balcony.event.> (server-sent events on /events)
// and fetch themselves again when something happens, replacing <main>
// without a reload: open <details> stay open, the focus stays put. At most
// one fetch a second, whatever the flood of events.
(function () {
  'use strict';
  var live = document.getElementById('live');
  var timer = null, busy = false, last = 0, opened = false;
  var gap = 1000;

  function say(text, cls) {
    if (live) { live.textContent = text; live.className = 'live ' + cls; }
  }

  function refresh() {
    timer = null;
    if (busy) { schedule(); return; }
    busy = true;
    last = Date.now();
    fetch(location.href, { headers: { 'Accept': 'text/html' }, cache: 'no-store', credentials: 'same-origin' })
      .then(function (resp) { return resp.text(); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, 'text/html');
        var fresh = doc.getElementById('main');
        var main = document.getElementById('main');
        if (!fresh || !main) { return; }
        var open = [];
        main.querySelectorAll('details[id]').forEach(function (d) { open.push([d.id, d.open]); });
        var focused = document.activeElement && document.activeElement.id;
        main.innerHTML = fresh.innerHTML;
        open.forEach(function (o) {
          var d = document.getElementById(o[0]);
          if (d && d.tagName === 'DETAILS') { d.open = o[1]; }
        });
        if (focused) {
          var f = document.getElementById(focused);
          if (f) { f.focus(); }
        }
        document.title = doc.title;
        document.dispatchEvent(new CustomEvent('balcony:refreshed'));
        say('live', 'on');
      })
      .catch(function (err) { say('not live: ' + err.message, 'off'); })
      .finally(function () { busy = false; });
  }

  function schedule() {
    if (timer !== null) { return; }
    timer = setTimeout(refresh, Math.max(150, gap - (Date.now() - last)));
  }

  if (!window.EventSource) { return; }
  var events = new EventSource('/events');
  events.addEventListener('open', function () {
    say('live', 'on');
    // Back after a break: events may have been missed meanwhile.
    if (opened) { schedule(); }
    opened = true;
  });
  events.addEventListener('balcony', schedule);
  events.addEventListener('error', function () { say('reconnecting…', 'off'); });
})();
