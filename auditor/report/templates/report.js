// auditor report: sort and filter the host and finding tables. Allowed by the page's CSP
// through its sha256 hash, so no other script can run. Reads text with textContent and
// never writes HTML: host strings stay inert.
(function () {
  "use strict";
  var RANK = { critical: 5, high: 4, medium: 3, low: 2, info: 1, "": 0 };
  var hosts = document.getElementById("host-table");
  var findings = document.getElementById("finding-table");
  var q = document.getElementById("f-q");
  var st = document.getElementById("f-status");
  var sev = document.getElementById("f-sev");
  var count = document.getElementById("f-count");
  var state = { sort: "", dir: "asc" };

  function cellValue(row, key) {
    var cell = row.querySelector('[data-k="' + key + '"]');
    if (!cell) return "";
    var v = cell.getAttribute("data-v");
    return v !== null ? v : cell.textContent.trim().toLowerCase();
  }

  function compare(a, b) {
    var na = parseFloat(a), nb = parseFloat(b);
    var numeric = a !== "" && b !== "" && !isNaN(na) && !isNaN(nb) &&
      isFinite(a) && isFinite(b);
    if (numeric) return na - nb;
    return a < b ? -1 : a > b ? 1 : 0;
  }

  function sortBy(key, dir) {
    if (!hosts || !key) return;
    var body = hosts.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (x, y) {
      var a = cellValue(x, key), b = cellValue(y, key);
      if ((a === "") !== (b === "")) return a === "" ? 1 : -1;  // empty cells last, both ways
      var c = compare(a, b);
      if (dir === "desc") c = -c;
      return c || parseInt(x.getAttribute("data-i"), 10) - parseInt(y.getAttribute("data-i"), 10);
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(hosts.querySelectorAll("th[data-sort]"), function (th) {
      var on = th.getAttribute("data-sort") === key;
      th.setAttribute("aria-sort", on ? (dir === "desc" ? "descending" : "ascending") : "none");
    });
    state.sort = key;
    state.dir = dir;
  }

  function filter() {
    var text = q ? q.value.trim().toLowerCase() : "";
    var status = st ? st.value : "";
    var minSev = sev ? (RANK[sev.value] || 0) : 0;
    var shown = 0, total = 0;
    if (hosts) {
      Array.prototype.forEach.call(hosts.tBodies[0].rows, function (row) {
        total += 1;
        var ok = (!text || row.textContent.toLowerCase().indexOf(text) >= 0) &&
          (!status || row.getAttribute("data-status") === status) &&
          (!minSev || (RANK[row.getAttribute("data-worst") || ""] || 0) >= minSev);
        row.hidden = !ok;
        if (ok) shown += 1;
      });
    }
    if (findings) {
      Array.prototype.forEach.call(findings.tBodies[0].rows, function (row) {
        if (!row.hasAttribute("data-sev")) return;
        row.hidden = !((!minSev || (RANK[row.getAttribute("data-sev")] || 0) >= minSev) &&
          (!text || row.textContent.toLowerCase().indexOf(text) >= 0) &&
          (!status || row.getAttribute("data-status") === status));
      });
    }
    if (count) count.textContent = shown === total ? total + " hosts" : shown + " of " + total + " hosts";
  }

  function saveState() {
    var parts = [];
    if (state.sort) parts.push("sort=" + encodeURIComponent(state.sort), "dir=" + state.dir);
    if (q && q.value) parts.push("q=" + encodeURIComponent(q.value));
    if (st && st.value) parts.push("status=" + encodeURIComponent(st.value));
    if (sev && sev.value) parts.push("sev=" + encodeURIComponent(sev.value));
    try { history.replaceState(null, "", parts.length ? "#" + parts.join("&") : "#"); } catch (e) { /* file:// in some browsers */ }
  }

  function loadState() {
    var hash = location.hash.replace(/^#/, "");
    if (hash.indexOf("=") < 0) {  // a plain anchor: open that host's section
      var target = hash ? document.getElementById(hash) : null;
      if (target && target.tagName === "DETAILS") target.open = true;
      return;
    }
    var params = {};
    hash.split("&").forEach(function (p) {
      var i = p.indexOf("=");
      if (i > 0) {
        try { params[p.slice(0, i)] = decodeURIComponent(p.slice(i + 1)); } catch (e) { /* bad escape */ }
      }
    });
    if (q && params.q) q.value = params.q;
    if (st && params.status) st.value = params.status;
    if (sev && params.sev) sev.value = params.sev;
    if (params.sort) sortBy(params.sort, params.dir === "desc" ? "desc" : "asc");
  }

  if (hosts) {
    Array.prototype.forEach.call(hosts.querySelectorAll("th[data-sort]"), function (th) {
      var go = function () {
        var key = th.getAttribute("data-sort");
        var dir = state.sort === key && state.dir === "asc" ? "desc" : "asc";
        sortBy(key, dir);
        saveState();
      };
      th.tabIndex = 0;
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } });
    });
  }
  [q, st, sev].forEach(function (el) {
    if (el) el.addEventListener("input", function () { filter(); saveState(); });
  });
  var reset = document.getElementById("f-reset");
  if (reset) reset.addEventListener("click", function () {
    if (q) q.value = "";
    if (st) st.value = "";
    if (sev) sev.value = "";
    filter();
    saveState();
  });
  window.addEventListener("hashchange", function () { loadState(); filter(); });
  loadState();
  filter();
  document.documentElement.setAttribute("data-js", "ready");
})();
