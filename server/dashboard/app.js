// The x402-mcp spend dashboard: polls api/state and draws it. It builds
// every element with textContent (never innerHTML), loads nothing from
// another origin, and leaves the charts to the server (SVG images).
(function () {
  'use strict';

  var POLL_MS = 5000;
  var windowName = '24h';
  var timer = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function money(m) { return m.amount + ' ' + m.symbol; }

  function when(iso) {
    return iso.replace('T', ' ').replace(/\.\d+/, '').replace('Z', '');
  }

  function shortHash(h) {
    return h.length > 22 ? h.slice(0, 10) + '…' + h.slice(-8) : h;
  }

  // cell adds a td with a label (shown above its value on a phone) and
  // an optional field name for the figure it holds.
  function cell(tr, label, field, text) {
    var td = el('td');
    td.dataset.label = label;
    if (field) td.dataset.field = field;
    var v = el('span', 'v', text === undefined ? '' : text);
    td.appendChild(v);
    tr.appendChild(td);
    return td;
  }

  function moneyCell(tr, label, field, m) {
    var td = cell(tr, label, field, money(m));
    td.classList.add('num');
    td.dataset.amount = m.amount;
    td.dataset.atomic = m.atomic;
    td.dataset.symbol = m.symbol;
    return td;
  }

  // budgetMoneyCell is moneyCell with the amount's atomic units and the
  // asset's decimals underneath, as the ledger keeps them.
  function budgetMoneyCell(tr, label, field, m) {
    var td = moneyCell(tr, label, field, m);
    var box = el('div', 'money');
    box.appendChild(td.querySelector('.v'));
    box.appendChild(el('small', 'atomic', m.atomic + ' atomic units (' + m.decimals + ' decimals)'));
    td.appendChild(box);
    return td;
  }

  function replaceRows(table, rows) {
    var old = table.tBodies[0];
    var tb = el('tbody');
    rows.forEach(function (tr) { tb.appendChild(tr); });
    table.replaceChild(tb, old);
  }

  function renderBudgets(st) {
    var rows = st.budgets.map(function (b) {
      var tr = el('tr');
      tr.dataset.scope = b.scope;
      tr.dataset.key = b.key || '';
      tr.dataset.unit = b.unit;
      if (b.principal) tr.dataset.principal = b.principal;
      var name = cell(tr, 'Budget', 'name', b.name);
      name.classList.add('wrap');
      name.querySelector('.v').appendChild(el('small', 'counts', b.counts));
      budgetMoneyCell(tr, 'Counted', 'counted', b.counted);
      budgetMoneyCell(tr, 'Limit', 'limit', b.limit);
      budgetMoneyCell(tr, 'Left', 'left', b.left);
      cell(tr, 'Resets', 'resets', b.resetText).classList.add('wrap');
      return tr;
    });
    if (rows.length === 0) {
      var tr = el('tr');
      cell(tr, 'Budget', '', 'No budget is set.');
      rows.push(tr);
    }
    replaceRows(document.getElementById('budgets'), rows);
    var hidden = document.getElementById('budgets-hidden');
    hidden.hidden = st.budgetsNotShown === 0;
    hidden.textContent = st.budgetsNotShown + ' more per-tool, per-session, per-host or principals\' budgets are further from their limits and not shown.';
  }

  var images = {};

  function renderSpend(st) {
    var box = document.getElementById('spend');
    var w = st.window;
    document.getElementById('spend-note').textContent = 'What counted from ' + when(w.since) + ' to ' + when(w.until) +
      ' UTC, in bars of ' + w.bucket + ', one chart per asset. A principal is who made the call (over stdio, ' +
      '"default"); a session is a principal during one run over HTTP, and one process over stdio.';
    var figs = [];
    var seen = {};
    st.spend.forEach(function (c) {
      var fig = el('figure', 'chart');
      fig.dataset.by = c.by;
      fig.dataset.unit = c.unit;
      var cap = el('figcaption');
      cap.appendChild(el('strong', '', 'Spend ' + c.title + ', ' + c.total.symbol));
      var tot = el('span', 'total', ' · ' + money(c.total));
      tot.dataset.field = 'total';
      tot.dataset.amount = c.total.amount;
      tot.dataset.symbol = c.total.symbol;
      cap.appendChild(tot);
      fig.appendChild(cap);
      var id = c.by + '|' + c.unit;
      seen[id] = true;
      var img = images[id];
      if (!img) {
        img = el('img');
        img.width = 640;
        img.height = 240;
        images[id] = img;
      }
      if (img.getAttribute('src') !== c.chart) img.setAttribute('src', c.chart);
      img.alt = 'Bar chart of what counted ' + c.title + ' in ' + c.total.symbol + '; the figures are in the legend.';
      fig.appendChild(img);
      var ul = el('ul', 'legend');
      c.keys.forEach(function (k) {
        var li = el('li');
        li.dataset.key = k.key;
        li.dataset.other = k.other ? 'true' : 'false';
        li.dataset.counted = k.counted.amount;
        li.dataset.symbol = k.counted.symbol;
        var sw = el('span', 'swatch');
        sw.style.backgroundColor = k.color;
        li.appendChild(sw);
        li.appendChild(el('span', 'label', k.label));
        var amt = el('span', 'amount', money(k.counted));
        amt.dataset.field = 'counted';
        li.appendChild(amt);
        var detail = k.payments + (k.payments === 1 ? ' payment' : ' payments');
        if (k.settled.atomic !== k.counted.atomic) detail += ', ' + money(k.settled) + ' settled';
        li.appendChild(el('small', 'detail', detail));
        ul.appendChild(li);
      });
      fig.appendChild(ul);
      figs.push(fig);
    });
    Object.keys(images).forEach(function (id) { if (!seen[id]) delete images[id]; });
    if (figs.length === 0) figs.push(el('p', 'empty', 'Nothing counted in this window.'));
    box.replaceChildren.apply(box, figs);
  }

  function networkText(p) {
    return p.networkName && p.networkName !== p.network ? p.networkName + ' (' + p.network + ')' : p.network;
  }

  function toolText(p) {
    return p.kind === 'tip' ? 'tip' + (p.tool ? ' (' + p.tool + ')' : '') : p.tool;
  }

  // principalText names who made the call; a payment booked before
  // principals were recorded has none.
  function principalText(p) {
    return p.principal || '—';
  }

  function renderOpen(st) {
    var rows = st.open.map(function (p) {
      var tr = el('tr');
      tr.dataset.open = p.id;
      tr.dataset.state = p.state;
      var age = cell(tr, 'Age', 'age', p.age);
      age.dataset.seconds = String(p.ageSeconds);
      cell(tr, 'Tool', 'tool', toolText(p));
      cell(tr, 'Principal', 'principal', principalText(p));
      moneyCell(tr, 'Amount', 'amount', p.amount);
      cell(tr, 'State', 'state', p.state);
      cell(tr, 'Network', 'network', networkText(p));
      cell(tr, 'Next', 'next', p.next).classList.add('wrap');
      return tr;
    });
    if (rows.length === 0) {
      var tr = el('tr');
      cell(tr, 'Open', '', 'None: every payment is settled or released.');
      rows.push(tr);
    }
    replaceRows(document.getElementById('open'), rows);
    document.getElementById('reconciler').textContent = st.reconciler;
    var more = document.getElementById('open-more');
    more.hidden = st.openCount <= st.open.length;
    more.textContent = 'The oldest ' + st.open.length + ' of ' + st.openCount + ' open payments are shown.';
  }

  function renderRecent(st) {
    var rows = st.recent.map(function (p) {
      var tr = el('tr');
      tr.dataset.payment = p.id;
      tr.dataset.state = p.state;
      cell(tr, 'Time (UTC)', 'time', when(p.time));
      cell(tr, 'Tool', 'tool', toolText(p));
      cell(tr, 'Principal', 'principal', principalText(p));
      moneyCell(tr, 'Amount', 'amount', p.amount);
      cell(tr, 'State', 'state', p.state);
      cell(tr, 'Network', 'network', networkText(p));
      var rc = cell(tr, 'Receipt', 'transaction');
      rc.classList.add('wrap');
      var v = rc.querySelector('.v');
      if (p.transaction) {
        rc.dataset.tx = p.transaction;
        if (p.explorer && p.explorer.indexOf('https://') === 0) {
          var a = el('a', '', shortHash(p.transaction));
          a.href = p.explorer;
          a.rel = 'noopener noreferrer';
          a.target = '_blank';
          a.title = p.transaction;
          v.appendChild(a);
        } else {
          v.textContent = shortHash(p.transaction);
          v.title = p.transaction;
        }
      } else {
        v.textContent = p.reason ? '— (' + p.reason + ')' : '—';
      }
      return tr;
    });
    if (rows.length === 0) {
      var tr = el('tr');
      cell(tr, 'Payments', '', 'No payment yet.');
      rows.push(tr);
    }
    replaceRows(document.getElementById('recent'), rows);
  }

  function renderWindows(st) {
    var nav = document.getElementById('windows');
    var buttons = st.window.windows.map(function (name) {
      var b = el('button', '', name);
      b.type = 'button';
      b.dataset.window = name;
      b.setAttribute('aria-pressed', name === st.window.name ? 'true' : 'false');
      b.addEventListener('click', function () {
        windowName = name;
        refresh();
      });
      return b;
    });
    nav.replaceChildren.apply(nav, buttons);
  }

  function setStatus(state, text) {
    document.body.dataset.state = state;
    document.getElementById('status').textContent = text;
  }

  function render(st) {
    renderWindows(st);
    renderBudgets(st);
    renderSpend(st);
    renderOpen(st);
    renderRecent(st);
    document.body.dataset.updated = st.generatedAt;
    var open = st.openCount === 1 ? '1 open payment' : st.openCount + ' open payments';
    setStatus('ready', 'Updated ' + when(st.generatedAt) + ' UTC · ' + open + (st.readOnly ? ' · read-only' : ''));
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, POLL_MS);
  }

  function refresh() {
    clearTimeout(timer);
    fetch('api/state?window=' + encodeURIComponent(windowName), { cache: 'no-store', credentials: 'same-origin' })
      .then(function (res) {
        if (res.status === 401) throw new Error('not signed in: reload the page to sign in again');
        return res.json().then(function (body) {
          if (!res.ok) throw new Error(body && body.error ? body.error : 'HTTP ' + res.status);
          return body;
        });
      })
      .then(function (st) { render(st); schedule(); })
      .catch(function (err) {
        setStatus('error', 'Could not refresh (' + err.message + '); trying again in a few seconds.');
        schedule();
      });
  }

  refresh();
})();
