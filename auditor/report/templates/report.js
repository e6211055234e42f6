// auditor report: draws the host table (paged, sorted, filtered), the hosts of each finding
// group and one host's details from the page's JSON data block. Allowed by the page's CSP
// through its sha256 hash, so no other script can run. Every value from the data is written
// with textContent (never as HTML): host strings stay inert.
(function () {
  "use strict";
  var RANK = /*SEVERITY_RANK*/ {};  // auditor.model.SEVERITY_RANK, written in by html_report
  var PAGE = 100;
  var block = document.getElementById("report-data");
  var D = block ? JSON.parse(block.textContent) : { rf: [], rows: [], df: [], details: [], groups: [], values: [] };
  var V = D.values;
  var table = document.getElementById("host-table");
  var q = document.getElementById("f-q");
  var st = document.getElementById("f-status");
  var sev = document.getElementById("f-sev");
  var count = document.getElementById("f-count");
  var gq = document.getElementById("g-q");
  var gsev = document.getElementById("g-sev");
  var gcount = document.getElementById("g-count");
  var findings = document.getElementById("finding-table");
  var state = { sort: "", dir: "asc", page: 0, selected: -1 };

  function decode(fields, cells) {
    var o = {};
    for (var i = 0; i < fields.length; i++) {
      var c = cells[i];
      o[fields[i]] = Array.isArray(c) ? c.map(function (n) { return V[n]; }) : V[c];
    }
    return o;
  }

  var rows = D.rows.map(function (cells, n) {
    var r = decode(D.rf, cells);
    r.n = n;
    r.text = [r.label, r.addresses, r.status, r.owner, r.os, r.eol, r.ssh].join(" ").toLowerCase();
    return r;
  });

  // ------------------------------------------------------------------ DOM helpers (text only)
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null && text !== "") e.textContent = String(text);
    return e;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      parent.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return parent;
  }
  function badge(kind, value) { return value ? el("span", "badge " + kind + "-" + value, value) : null; }
  function muted(text) { return el("span", "muted", text || "—"); }
  function code(text) { return el("code", null, text); }
  function hostLink(n) {
    var a = el("a", null, rows[n].label);
    a.href = "#h" + (n + 1);
    return a;
  }
  function grid(pairs) {
    var dl = el("dl");
    pairs.forEach(function (p) {
      if (!p) return;
      var dd = el("dd", p[2] || null);
      var v = p[1];
      if (v === null || v === undefined || v === "") add(dd, muted());
      else if (typeof v === "object") add(dd, v);
      else dd.textContent = String(v);
      add(dl, el("dt", null, p[0]), dd);
    });
    return dl;
  }
  function tableOf(headers, items, cells) {
    var t = el("table"), head = el("tr"), body = el("tbody");
    headers.forEach(function (h) { add(head, el("th", null, h)); });
    add(t, add(el("thead"), head), body);
    items.forEach(function (item) {
      var tr = el("tr");
      cells(item).forEach(function (c) {
        var td = el("td", c && c.cls ? c.cls : null);
        var v = c && c.cls !== undefined ? c.v : c;
        if (v === null || v === undefined || v === "") add(td, muted());
        else if (typeof v === "object") add(td, v);
        else td.textContent = String(v);
        add(tr, td);
      });
      add(body, tr);
    });
    return t;
  }
  function eolText(e) {
    if (!e || !e.date) return null;
    var when = e.days_past === null || e.days_past === undefined ? "" :
      e.days_past >= 0 ? " (" + e.days_past + " days ago)" : " (in " + -e.days_past + " days)";
    return el("span", "reason", " end of life " + e.date + when);
  }

  // ------------------------------------------------------------------ host table
  function visible() {
    var text = q ? q.value.trim().toLowerCase() : "";
    var status = st ? st.value : "";
    var minSev = sev ? (RANK[sev.value] || 0) : 0;
    return rows.filter(function (r) {
      return (!text || r.text.indexOf(text) >= 0) && (!status || r.status === status) &&
        (!minSev || (RANK[r.worst] || 0) >= minSev);
    });
  }

  function sortKey(r, key) {
    if (key === "findings") return r.findings ? (RANK[r.worst] || 0) * 100000 + r.findings : null;
    var v = r[key];
    if (v === null || v === undefined || v === "") return null;
    return typeof v === "number" ? v : String(v).toLowerCase();
  }

  function sorted(list) {
    var key = state.sort, dir = state.dir === "desc" ? -1 : 1;
    if (!key) return list;
    var keyed = list.map(function (r) { return [sortKey(r, key), r]; });
    keyed.sort(function (x, y) {
      var a = x[0], b = y[0];
      if ((a === null) !== (b === null)) return a === null ? 1 : -1;  // empty cells last, both ways
      var c = a === b ? 0 : a < b ? -1 : 1;
      return c * dir || x[1].n - y[1].n;
    });
    return keyed.map(function (k) { return k[1]; });
  }

  function hostRow(r) {
    var tr = el("tr");
    tr.setAttribute("data-i", r.n + 1);
    tr.setAttribute("data-status", r.status);
    tr.setAttribute("data-worst", r.worst);
    if (r.n === state.selected) tr.className = "sel";
    var name = add(el("td"), hostLink(r.n));
    (r.changes || []).forEach(function (note) { add(name, " ", el("span", note === "new" ? "tag new" : "tag", note)); });
    var eol = el("td");
    if (r.eol) { var b = badge("e", r.eol); b.title = r.eol_days === null ? "" : r.eol_days + " days past end of life"; add(eol, b); }
    eol.setAttribute("data-v", r.eol_days === null ? "" : r.eol_days);
    var up = el("td", "num", r.uptime_text);
    up.setAttribute("data-k", "uptime");
    up.setAttribute("data-v", r.uptime === null ? "" : r.uptime.toFixed(2));
    var fc = el("td", "num");
    if (r.worst) add(fc, badge("v", r.worst), " ");
    if (r.findings) add(fc, String(r.findings));
    var addr = el("td", "mono nw", r.addresses);
    addr.setAttribute("data-k", "addr");
    add(tr, name, addr, add(el("td"), badge("s", r.status)),
      el("td", null, r.owner), el("td", null, r.os), eol, up, el("td", null, r.ssh), fc,
      el("td", "nw", r.first_seen));
    return tr;
  }

  function draw() {
    if (!table) return;
    var list = sorted(visible());
    var pages = Math.max(1, Math.ceil(list.length / PAGE));
    if (state.page >= pages) state.page = pages - 1;
    if (state.page < 0) state.page = 0;
    var body = el("tbody");
    list.slice(state.page * PAGE, (state.page + 1) * PAGE).forEach(function (r) { add(body, hostRow(r)); });
    if (!list.length) add(body, add(el("tr"), (function () { var td = el("td", "muted", "No host matches."); td.colSpan = 10; return td; })()));
    table.replaceChild(body, table.tBodies[0]);
    if (count) count.textContent = list.length === rows.length ? rows.length + " hosts" : list.length + " of " + rows.length + " hosts";
    var info = document.getElementById("p-info");
    if (info) info.textContent = list.length ? "hosts " + (state.page * PAGE + 1) + "–" + Math.min(list.length, (state.page + 1) * PAGE) + " of " + list.length + " · page " + (state.page + 1) + " of " + pages : "";
    var prev = document.getElementById("p-prev"), next = document.getElementById("p-next");
    if (prev) prev.disabled = state.page === 0;
    if (next) next.disabled = state.page >= pages - 1;
    Array.prototype.forEach.call(table.querySelectorAll("th[data-sort]"), function (th) {
      var on = th.getAttribute("data-sort") === state.sort;
      th.setAttribute("aria-sort", on ? (state.dir === "desc" ? "descending" : "ascending") : "none");
    });
  }

  // ------------------------------------------------------------------ findings table
  function filterFindings() {
    if (!findings) return;
    var text = gq ? gq.value.trim().toLowerCase() : "";
    var minSev = gsev ? (RANK[gsev.value] || 0) : 0;
    var shown = 0, total = 0;
    Array.prototype.forEach.call(findings.tBodies[0].rows, function (row) {
      if (!row.hasAttribute("data-sev")) return;
      total += 1;
      var ok = (!minSev || (RANK[row.getAttribute("data-sev")] || 0) >= minSev) &&
        (!text || row.textContent.toLowerCase().indexOf(text) >= 0);
      row.hidden = !ok;
      if (ok) shown += 1;
    });
    if (gcount) gcount.textContent = shown === total ? total + " groups" : shown + " of " + total + " groups";
  }

  function fillGroup(box) {
    if (box.getAttribute("data-done")) return;
    var hosts = D.groups[parseInt(box.getAttribute("data-g"), 10)] || [];
    var frag = document.createDocumentFragment();
    hosts.forEach(function (n) { add(frag, hostLink(n)); });
    box.appendChild(frag);
    box.setAttribute("data-done", "1");
  }

  // ------------------------------------------------------------------ host details
  function detail(n) {
    var d = decode(D.df, D.details[n]), r = rows[n];
    var box = el("details", "host");
    box.open = true;
    box.id = "h" + (n + 1) + "-detail";
    var sum = add(el("summary"), el("b", null, r.label), " ", badge("s", r.status));
    if (r.worst) add(sum, " ", badge("v", r.worst), " " + r.findings + " finding" + (r.findings === 1 ? "" : "s"));
    add(sum, " ", el("span", "mono muted", r.addresses));
    if (r.os) add(sum, " ", el("span", "muted", r.os), " ", badge("e", r.eol));
    var body = el("div", "hostbody"), two = el("div", "grid2");
    var sshText = add(el("span"), d.ssh_state || "");
    if (d.ssh_where) add(sshText, " ", el("span", "mono", d.ssh_where));
    if (d.ssh_reason) add(sshText, " ", el("span", "reason", d.ssh_reason));
    var status = add(el("span"), badge("s", r.status), " " + (d.status_reason || ""));
    var ident = [["id", d.id, "mono"], ["status", status], ["hostnames", d.hostnames], ["addresses", r.addresses, "mono"],
      ["identifiers", d.identifiers, "mono"], ["sources", d.sources],
      ["owner", r.owner ? add(el("span"), r.owner, d.owner_detail ? " " : "", d.owner_detail ? el("span", "reason", d.owner_detail) : null) : null],
      ["open ports", d.open_ports, "mono"],
      ["first seen", r.first_seen], ["SSH", sshText]];
    if (d.cloud) Object.keys(d.cloud).forEach(function (k) {
      var v = d.cloud[k];
      ident.push(["cloud " + k, typeof v === "object" && v !== null ? JSON.stringify(v) : v]);
    });
    add(two, add(el("div"), el("h3", null, "Identity"), grid(ident)));
    var system = add(el("div"), el("h3", null, "System"));
    if (d.probed) {
      if (d.ssh_state === "partial") add(system, el("p", "reason", "Probed partially: " + (d.ssh_reason || "")));
      var os = add(el("span"), d.os || "", " ", badge("e", d.os_eol ? d.os_eol.status : ""), eolText(d.os_eol));
      if (d.os_source) add(os, add(el("div", "reason"), "from " + d.os_source, d.os_raw ? ": " : "", d.os_raw ? code(d.os_raw) : null));
      var logs = d.logs === null ? null : add(el("span"), "last written " + (d.logs || "—") + " ", el("span", "reason", d.log_files + " files"));
      add(system, grid([["OS", os], ["kernel", d.kernel, "mono"], ["hostname", d.hostname],
        ["uptime", d.uptime ? add(el("span"), d.uptime + " ", el("span", "reason", d.boot ? "booted " + d.boot : "")) : null],
        ["logs", logs], ["probed", d.probed]]));
    } else {
      add(system, el("p", "muted", "Not probed: " + (d.ssh_reason || d.ssh_state || "")));
    }
    add(two, system);
    add(body, two);
    if (d.findings.length) {
      add(body, el("h3", null, "Findings"));
      d.findings.forEach(function (f) {
        var div = add(el("div", "finding v-" + f.severity), badge("v", f.severity), " ", el("b", null, f.title), " ", el("span", "reason", f.rule));
        if (f.accepted) add(div, " ", el("span", f.accepted.expired ? "tag new" : "tag", f.accepted.expired ? "acceptance expired" : "accepted"),
          " ", el("span", "reason", "until " + f.accepted.expires + ": " + f.accepted.reason + " (" + f.accepted.source + ")"));
        if (f.evidence && f.evidence.length) {
          var ul = el("ul");
          f.evidence.forEach(function (e) { add(ul, el("li", null, e)); });
          add(div, ul);
        }
        add(body, div);
      });
    }
    if (d.changes.length) {
      var ul = el("ul");
      d.changes.forEach(function (c) { add(ul, el("li", null, c)); });
      add(body, el("h3", null, "Changes since last run"), ul);
    }
    if (d.listeners.length) add(body, el("h3", null, "Listeners"), tableOf(["listen", "process", "pid", "user", "command line"], d.listeners,
      function (l) { return [{ cls: "mono", v: l.listen }, l.process, { cls: "num", v: l.pid }, l.user, code(l.cmdline)]; }));
    if (d.teams.length) add(body, el("h3", null, "Who uses it"),
      el("p", "muted", "Every client of the access logs in the window, per team (longest [owners] network); clients of no team per /24 or /64."),
      tableOf(["team", "requests", "share", "clients", "last seen"], d.teams, function (t) {
        return [t.team ? el("b", null, t.name) : add(el("span"), el("span", "mono", t.name), " ", el("span", "muted", "no team")),
          { cls: "num", v: t.requests }, { cls: "num", v: t.share }, { cls: "num", v: t.clients }, t.last_seen];
      }));
    if (d.peers.length) add(body, el("h3", null, "Connected peers"), tableOf(["port", "team or network", "peers"], d.peers, function (g) {
      return [{ cls: "num", v: g.port }, g.team ? el("b", null, g.team) : add(el("span"), el("span", "mono", g.network), " ", el("span", "muted", "no team")),
        { cls: "num", v: g.peers }];
    }));
    if (d.clients.length) add(body, el("h3", null, "Top client addresses"), tableOf(["address", "owner", "requests", "last seen"], d.clients,
      function (c) { return [{ cls: "mono", v: c.address }, c.owner, { cls: "num", v: c.requests }, c.last_seen]; }));
    if (d.web_logs.length) add(body, el("h3", null, "Web logs"), tableOf(["log", "requests", "clients", "top paths", "admin paths", "period"], d.web_logs,
      function (w) {
        var paths = function (list) {
          var div = el("div");
          list.forEach(function (p) { add(div, add(el("div"), code(p[0]), " ", el("span", "muted", String(p[1])))); });
          return list.length ? div : null;
        };
        return [{ cls: "mono", v: w.path }, { cls: "num", v: w.requests }, { cls: "num", v: w.clients },
          paths(w.top_paths), paths(w.admin_paths), { cls: "reason", v: w.period }];
      }));
    if (d.logins.length) add(body, el("h3", null, "Logins"), tableOf(["user", "from", "at"], d.logins,
      function (x) { return [x.now ? add(el("span"), x.user + " ", el("span", "tag", "now")) : x.user, { cls: "mono", v: x.from }, x.at]; }));
    if (d.software.length) add(body, el("h3", null, "Software"), tableOf(["name", "version", "package", "EOL", "seen"], d.software,
      function (s) {
        var e = s.eol ? add(el("span"), badge("e", s.eol.status), s.eol.date ? el("span", "reason", " " + s.eol.date) : null,
          s.eol.basis ? el("div", "reason", s.eol.basis) : null) : null;
        return [s.name, { cls: "mono", v: s.version }, s.package, e, code(s.raw)];
      }));
    if (d.cron.length) {
      add(body, el("h3", null, "Cron"));
      d.cron.forEach(function (line) { add(body, add(el("div"), code(line))); });
    }
    if (d.errors) {
      add(body, el("h3", null, "Facts not read"), grid(Object.keys(d.errors).map(function (k) { return [k, d.errors[k], "err"]; })));
    }
    return add(box, sum, body);
  }

  function showHost(n, scroll) {
    var panel = document.getElementById("host-detail");
    if (!panel || n < 0 || n >= rows.length) return;
    state.selected = n;
    while (panel.firstChild) panel.removeChild(panel.firstChild);
    panel.appendChild(detail(n));
    var hint = document.getElementById("detail-hint");
    if (hint) hint.hidden = true;
    draw();
    if (scroll && panel.scrollIntoView) panel.scrollIntoView();
  }

  // ------------------------------------------------------------------ URL state
  function saveState() {
    var parts = [];
    if (state.sort) parts.push("sort=" + encodeURIComponent(state.sort), "dir=" + state.dir);
    if (q && q.value) parts.push("q=" + encodeURIComponent(q.value));
    if (st && st.value) parts.push("status=" + encodeURIComponent(st.value));
    if (sev && sev.value) parts.push("sev=" + encodeURIComponent(sev.value));
    if (state.page) parts.push("page=" + (state.page + 1));
    try { history.replaceState(null, "", parts.length ? "#" + parts.join("&") : "#"); } catch (e) { /* file:// in some browsers */ }
  }

  function loadState() {
    var hash = location.hash.replace(/^#/, "");
    var host = /^h(\d+)$/.exec(hash);
    if (host) { showHost(parseInt(host[1], 10) - 1, true); return; }
    var group = /^g-(\d+)$/.exec(hash);  // a finding group: open it with its hosts listed
    var row = group ? document.getElementById(hash) : null;
    if (row) {
      var box = row.querySelector("details.grp");
      if (box) { box.open = true; fillGroup(box.querySelector(".grp-hosts")); }
      return;
    }
    if (hash.indexOf("=") < 0) return;  // a plain anchor (#findings): the browser scrolls
    var params = {};
    hash.split("&").forEach(function (p) {
      var i = p.indexOf("=");
      if (i > 0) {
        try { params[p.slice(0, i)] = decodeURIComponent(p.slice(i + 1)); } catch (e) { /* bad escape */ }
      }
    });
    if (q) q.value = params.q || "";
    if (st) st.value = params.status || "";
    if (sev) sev.value = params.sev || "";
    if (gsev && params.sev) gsev.value = params.sev;
    state.sort = params.sort || "";
    state.dir = params.dir === "desc" ? "desc" : "asc";
    state.page = params.page ? Math.max(0, (parseInt(params.page, 10) || 1) - 1) : 0;
  }

  // ------------------------------------------------------------------ wiring
  if (table) {
    Array.prototype.forEach.call(table.querySelectorAll("th[data-sort]"), function (th) {
      var go = function () {
        var key = th.getAttribute("data-sort");
        state.dir = state.sort === key && state.dir === "asc" ? "desc" : "asc";
        state.sort = key;
        state.page = 0;
        draw();
        saveState();
      };
      th.tabIndex = 0;
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } });
    });
  }
  [q, st, sev].forEach(function (e) {
    if (e) e.addEventListener("input", function () { state.page = 0; draw(); saveState(); });
  });
  [gq, gsev].forEach(function (e) { if (e) e.addEventListener("input", filterFindings); });
  var reset = document.getElementById("f-reset");
  if (reset) reset.addEventListener("click", function () {
    if (q) q.value = "";
    if (st) st.value = "";
    if (sev) sev.value = "";
    state.sort = ""; state.page = 0;
    draw();
    saveState();
  });
  var prev = document.getElementById("p-prev"), next = document.getElementById("p-next");
  if (prev) prev.addEventListener("click", function () { state.page -= 1; draw(); saveState(); });
  if (next) next.addEventListener("click", function () { state.page += 1; draw(); saveState(); });
  Array.prototype.forEach.call(document.querySelectorAll("details.grp"), function (g) {
    g.addEventListener("toggle", function () { if (g.open) fillGroup(g.querySelector(".grp-hosts")); });
  });
  window.addEventListener("hashchange", function () { loadState(); draw(); filterFindings(); });
  loadState();
  draw();
  filterFindings();
  document.documentElement.setAttribute("data-js", "ready");
  // How long from navigation until the page could be used: tests print it at 10,000 hosts.
  if (window.performance) document.documentElement.setAttribute("data-ready-ms", String(Math.round(performance.now())));
})();
