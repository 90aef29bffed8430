"use strict";
// The table of every item: rows decoded once from #rows, each item's findings decoded from its
// chunk when it is opened. Filters and sort work on row indexes; only one page is in the DOM.
(async function () {
  const PAGE = 50;
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
    return e;
  };
  async function unpack(id) {
    const text = document.getElementById(id).textContent.trim();
    const raw = atob(text);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }

  const data = await unpack("rows");
  const cols = data.columns, rows = data.rows;
  const codesCol = cols.findIndex((c) => c.type === "codes");
  const codeNames = codesCol >= 0 ? cols[codesCol].values : [];
  const state = { q: "", filters: {}, code: -1, sort: null, dir: 1, page: 0 };
  let shown = [];
  const open = new Set();
  const chunks = new Map();

  // -- controls ----------------------------------------------------------------------------
  const controls = document.getElementById("controls");
  controls.replaceChildren();
  const q = el("input", { id: "q", type: "search", placeholder: "name contains…" });
  q.addEventListener("input", () => { state.q = q.value.trim().toLowerCase(); state.page = 0; apply(); });
  controls.append(el("label", {}, "Search", q));
  cols.forEach((c, i) => {
    if (c.type !== "enum") return;
    const counts = new Array(c.values.length).fill(0);
    for (const r of rows) counts[r[i]]++;
    const sel = el("select", { id: "f-" + c.key }, el("option", { value: "-1" }, "any"));
    c.values.forEach((v, j) => { if (counts[j]) sel.append(el("option", { value: String(j) }, `${v || "(none)"} (${counts[j]})`)); });
    sel.addEventListener("change", () => { state.filters[i] = Number(sel.value); state.page = 0; apply(); });
    controls.append(el("label", {}, c.label, sel));
  });
  if (codesCol >= 0) {
    const counts = new Array(codeNames.length).fill(0);
    for (const r of rows) for (const k of r[codesCol]) counts[k]++;
    const order = codeNames.map((_, j) => j).filter((j) => counts[j]).sort((a, b) => counts[b] - counts[a]);
    const sel = el("select", { id: "f-codes" }, el("option", { value: "-1" }, "any"));
    for (const j of order) sel.append(el("option", { value: String(j) }, `${codeNames[j]} (${counts[j]})`));
    sel.addEventListener("change", () => { state.code = Number(sel.value); state.page = 0; apply(); });
    controls.append(el("label", {}, "Problem code", sel));
  }

  // -- header and sort ---------------------------------------------------------------------
  const thead = document.querySelector("#table thead"), tbody = document.querySelector("#table tbody");
  const headRow = el("tr");
  cols.forEach((c, i) => {
    const th = el("th", { "data-key": c.key }, c.label);
    th.addEventListener("click", () => {
      state.dir = state.sort === i ? -state.dir : 1;
      state.sort = i; state.page = 0; apply();
    });
    headRow.append(th);
  });
  thead.append(headRow);

  function sortKey(r, i) {
    const c = cols[i], v = r[i];
    if (c.type === "enum") return c.values[v];
    if (c.type === "codes") return v.length;
    return v;
  }

  function apply() {
    shown = [];
    for (let n = 0; n < rows.length; n++) {
      const r = rows[n];
      if (state.q && !String(r[0]).toLowerCase().includes(state.q)) continue;
      let ok = true;
      for (const [i, v] of Object.entries(state.filters)) if (v >= 0 && r[i] !== v) { ok = false; break; }
      if (!ok) continue;
      if (state.code >= 0 && !r[codesCol].includes(state.code)) continue;
      shown.push(n);
    }
    if (state.sort !== null) {
      const i = state.sort, d = state.dir;
      shown.sort((a, b) => {
        const x = sortKey(rows[a], i), y = sortKey(rows[b], i);
        return (x < y ? -1 : x > y ? 1 : a - b) * d;
      });
    }
    headRow.querySelectorAll("th").forEach((th, i) => { th.className = i === state.sort ? (state.dir > 0 ? "asc" : "desc") : ""; });
    document.getElementById("shown").textContent = shown.length.toLocaleString("en");
    render();
  }

  // -- rows and details --------------------------------------------------------------------
  function cell(c, v) {
    if (c.type === "enum") { const s = c.values[v]; return el("td", {}, s ? el("span", { class: "badge b-" + s.replace(/ /g, "-") }, s) : ""); }
    if (c.type === "codes") return el("td", { class: "codes" }, ...v.map((k) => el("code", {}, codeNames[k])));
    if (c.type === "int") return el("td", { class: "num" }, v || "");
    return el("td", {}, v);
  }

  function render() {
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * PAGE;
    tbody.replaceChildren();
    for (const n of shown.slice(start, start + PAGE)) {
      const tr = el("tr", { class: "item", "data-n": String(n) }, ...cols.map((c, i) => cell(c, rows[n][i])));
      tr.addEventListener("click", () => toggle(n, tr));
      tbody.append(tr);
      if (open.has(n)) toggle(n, tr, true);
    }
    const pager = document.getElementById("pager");
    pager.replaceChildren(
      el("button", { id: "prev", onclick: () => { if (state.page > 0) { state.page--; render(); } } }, "‹ previous"),
      el("span", {}, `page ${state.page + 1} of ${pages}`),
      el("button", { id: "next", onclick: () => { if (state.page < pages - 1) { state.page++; render(); } } }, "next ›"),
    );
  }

  async function detailOf(n) {
    const c = Math.floor(n / data.chunk);
    if (!chunks.has(c)) chunks.set(c, unpack("chunk-" + c));
    return (await chunks.get(c))[n % data.chunk];
  }

  async function toggle(n, tr, keep) {
    const next = tr.nextSibling;
    if (!keep && next && next.classList && next.classList.contains("detail")) { next.remove(); open.delete(n); return; }
    open.add(n);
    const d = await detailOf(n);
    const td = el("td", { colspan: String(cols.length) }, renderDetail(d));
    tr.after(el("tr", { class: "detail" }, td));
  }

  function renderFix(f) {
    const t = el("table", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "type"), el("th", {}, "publish"), el("th", {}, "in place of")));
    for (const r of f.records) t.append(el("tr", {}, el("td", {}, r.name), el("td", {}, r.type), el("td", {}, r.value === null ? "(remove)" : r.value), el("td", {}, r.replaces || "")));
    return el("div", { class: "fix" }, el("div", { class: "why" }, "Fix: " + f.why), t, f.note ? el("div", { class: "note" }, f.note) : null);
  }

  function renderDetail(d) {
    const box = el("div", { class: "detail" }, el("h4", {}, d.t));
    for (const s of d.s || []) box.append(el("div", {}, s));
    if (d.ch) box.append(el("div", { class: "sec" }, el("h4", {}, "Changed since the previous run"), ...d.ch.map((x) => el("div", {}, x))));
    for (const s of d.sec) {
      const sec = el("div", { class: "sec" }, el("h4", {}, s.n.toUpperCase() + " ", el("span", { class: "badge b-" + s.st }, s.st)));
      for (const r of s.rec) if (r) sec.append(el("pre", {}, r));
      for (const i of s.info) if (i) sec.append(el("div", {}, i));
      for (const [sev, code, msg, fix] of s.p) {
        sec.append(el("div", { class: "p" }, el("span", { class: "sev-" + sev }, sev), " ", el("code", {}, code), " ", msg));
        if (fix) sec.append(renderFix(fix));
      }
      box.append(sec);
    }
    return box;
  }

  apply();
  document.body.dataset.ready = "1";
})().catch((e) => { document.body.dataset.ready = "error"; console.error(e); throw e; });
