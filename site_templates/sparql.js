// The SPARQL console: Oxigraph (WebAssembly) loads data/graph.nq and answers in the browser.
import init, { Store } from "./vendor/oxigraph/web.js";

const PREFIXES = {
  sd: "https://w3id.org/sdwiki/ontology#",
  rdf: "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
  rdfs: "http://www.w3.org/2000/01/rdf-schema#",
  owl: "http://www.w3.org/2002/07/owl#",
  xsd: "http://www.w3.org/2001/XMLSchema#",
  skos: "http://www.w3.org/2004/02/skos/core#",
  dcterms: "http://purl.org/dc/terms/",
  foaf: "http://xmlns.com/foaf/0.1/",
  prov: "http://www.w3.org/ns/prov#",
};
const KINDS = new Set(["concept", "thinker", "example", "era", "mitigation", "tag", "category"]);

const box = document.getElementById("sparql");
const editor = document.getElementById("sparql-query");
const status = document.getElementById("sparql-status");
const results = document.getElementById("sparql-results");
const runButton = document.getElementById("sparql-run");
const csvButton = document.getElementById("sparql-csv");
const jsonButton = document.getElementById("sparql-json");
const examples = JSON.parse(document.getElementById("sparql-example-data").textContent);
const base = box.dataset.base;
const root = box.dataset.root;
let last = null;

function withPrefixes(q) {
  const declared = new Set([...q.matchAll(/PREFIX\s+([\w-]*):/gi)].map((m) => m[1]));
  const lines = Object.entries(PREFIXES).filter(([p]) => !declared.has(p)).map(([p, ns]) => `PREFIX ${p}: <${ns}>`);
  return lines.join("\n") + "\n" + q;
}

function pageFor(iri) {
  if (!iri.startsWith(base)) return null;
  const parts = iri.slice(base.length).split("/");
  return parts.length === 2 && KINDS.has(parts[0]) ? `${root}${parts[0]}/${parts[1]}/index.html` : null;
}

function cell(term) {
  const td = document.createElement("td");
  if (!term) return td;
  const href = term.termType === "NamedNode" ? pageFor(term.value) : null;
  if (href) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = labels.get(term.value) || term.value;
    td.appendChild(a);
  } else {
    td.textContent = term.value;
  }
  return td;
}

let labels = new Map();

function render(vars, rows) {
  const table = document.createElement("table");
  const caption = table.createCaption();
  caption.textContent = `${rows.length} result${rows.length === 1 ? "" : "s"}`;
  const head = table.createTHead().insertRow();
  for (const v of vars) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = v;
    head.appendChild(th);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const v of vars) tr.appendChild(cell(row.get(v)));
  }
  results.replaceChildren(table);
}

function run(store) {
  const text = editor.value;
  const url = new URL(window.location.href);
  url.searchParams.set("query", text);
  history.replaceState(null, "", url);
  try {
    const started = performance.now();
    const answer = store.query(withPrefixes(text));
    const ms = Math.round(performance.now() - started);
    if (typeof answer === "boolean") {
      results.replaceChildren(Object.assign(document.createElement("p"), { textContent: answer ? "Yes." : "No." }));
      last = { head: {}, boolean: answer };
      status.textContent = `Answered in ${ms} ms.`;
    } else if (Array.isArray(answer) && (answer.length === 0 || answer[0] instanceof Map)) {
      const vars = [];
      for (const m of answer) for (const k of m.keys()) if (!vars.includes(k)) vars.push(k);
      const match = text.match(/SELECT\s+(DISTINCT\s+|REDUCED\s+)?((\?\w+\s*)+)/i);
      if (match) for (const v of match[2].trim().split(/\s+/)) { const n = v.slice(1); if (!vars.includes(n)) vars.push(n); }
      render(vars, answer);
      last = { vars, rows: answer };
      status.textContent = `${answer.length} result${answer.length === 1 ? "" : "s"} in ${ms} ms.`;
    } else {
      const pre = document.createElement("pre");
      pre.textContent = answer.map((q) => q.toString()).join("\n");
      results.replaceChildren(pre);
      last = null;
      status.textContent = `${answer.length} triples in ${ms} ms.`;
    }
    csvButton.disabled = jsonButton.disabled = !last || !last.rows;
  } catch (err) {
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = String(err);
    results.replaceChildren(p);
    status.textContent = "The query failed.";
    csvButton.disabled = jsonButton.disabled = true;
  }
}

function download(name, type, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function csv() {
  const esc = (s) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = [last.vars.join(",")];
  for (const r of last.rows) lines.push(last.vars.map((v) => esc(r.get(v) ? r.get(v).value : "")).join(","));
  return lines.join("\r\n") + "\r\n";
}

function json() {
  const term = (t) =>
    t.termType === "NamedNode" ? { type: "uri", value: t.value }
    : t.termType === "BlankNode" ? { type: "bnode", value: t.value }
    : Object.assign({ type: "literal", value: t.value }, t.language ? { "xml:lang": t.language } : t.datatype && t.datatype.value !== "http://www.w3.org/2001/XMLSchema#string" ? { datatype: t.datatype.value } : {});
  const bindings = last.rows.map((r) => Object.fromEntries([...r.entries()].filter(([, t]) => t).map(([k, t]) => [k, term(t)])));
  return JSON.stringify({ head: { vars: last.vars }, results: { bindings } }, null, 1);
}

document.getElementById("sparql-examples").addEventListener("change", (ev) => {
  const e = examples[Number(ev.target.value)];
  if (e) editor.value = e.text;
});

async function main() {
  const q = new URLSearchParams(window.location.search).get("query");
  if (q) editor.value = q;
  runButton.disabled = true;
  await init();
  const store = new Store();
  const response = await fetch(`${root}data/graph.nq`);
  store.load(await response.text(), { format: "application/n-quads" });
  // one named graph per note; queries see their merge as the default graph, as everywhere else
  store.update("INSERT { ?s ?p ?o } WHERE { GRAPH ?g { ?s ?p ?o } }");
  for (const b of store.query("SELECT ?s ?l WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l }")) {
    labels.set(b.get("s").value, b.get("l").value);
  }
  status.textContent = `Ready: ${store.size} statements loaded.`;
  runButton.disabled = false;
  runButton.addEventListener("click", () => run(store));
  editor.addEventListener("keydown", (ev) => { if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter") run(store); });
  csvButton.addEventListener("click", () => download("results.csv", "text/csv", csv()));
  jsonButton.addEventListener("click", () => download("results.json", "application/sparql-results+json", json()));
  if (q) run(store);
}

main().catch((err) => { status.textContent = `Could not load the graph: ${err}`; });
