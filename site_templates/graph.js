// The graph view: nodes laid out at build time, drawn on a canvas with pan, zoom, filters and
// click-to-open. Data comes from data/graph-data.js (a script, so it also works from disk).
(function () {
  "use strict";
  var data = window.SDWIKI_GRAPH;
  var canvas = document.getElementById("graph");
  if (!data || !canvas) return;
  var ctx = canvas.getContext("2d");
  var W = canvas.width, H = canvas.height;
  var view = { x: 0, y: 0, k: 1 };
  var kinds = new Set(["concept", "thinker", "example", "era", "mitigation"]);
  var relation = "";
  var colourBy = "kind";
  var hover = null;
  var style = getComputedStyle(document.documentElement);
  var palette = ["#2563eb", "#b45309", "#047857", "#7c3aed", "#be185d", "#0891b2", "#4d7c0f", "#c2410c", "#9333ea", "#0f766e"];
  function kindColour(k) { return style.getPropertyValue("--" + k).trim() || "#888"; }
  function colour(n) { return colourBy === "community" && n.community >= 0 ? palette[n.community % palette.length] : kindColour(n.kind); }

  var relSelect = document.getElementById("graph-relation");
  var relations = Array.from(new Set(data.edges.map(function (e) { return e[2]; }))).sort();
  relations.forEach(function (r) { var o = document.createElement("option"); o.value = r; o.textContent = r; relSelect.appendChild(o); });

  function visible(n) { return kinds.has(n.kind); }
  function screen(n) { return { x: (n.x * (W - 80) + 40) * view.k + view.x, y: (n.y * (H - 80) + 40) * view.k + view.y }; }
  function radius(n) { return n.kind === "concept" ? 7 : 5; }

  function draw() {
    ctx.clearRect(0, 0, W, H);
    ctx.lineWidth = 1;
    ctx.strokeStyle = style.getPropertyValue("--line").trim() || "#ccc";
    data.edges.forEach(function (e) {
      var a = data.nodes[e[0]], b = data.nodes[e[1]];
      if (!visible(a) || !visible(b) || (relation && e[2] !== relation)) return;
      var p = screen(a), q = screen(b);
      ctx.beginPath(); ctx.moveTo(p.x, p.y); ctx.lineTo(q.x, q.y); ctx.stroke();
    });
    ctx.font = "12px system-ui, sans-serif";
    data.nodes.forEach(function (n) {
      if (!visible(n)) return;
      var p = screen(n);
      ctx.beginPath(); ctx.arc(p.x, p.y, radius(n) * Math.sqrt(view.k), 0, 2 * Math.PI);
      ctx.fillStyle = colour(n); ctx.fill();
      if (view.k > 1.6 || n === hover || n.kind === "concept") {
        ctx.fillStyle = style.getPropertyValue("--fg").trim() || "#000";
        ctx.fillText(n.label, p.x + 8, p.y - 6);
      }
    });
  }

  function toCanvas(ev) {
    var r = canvas.getBoundingClientRect();
    return { x: (ev.clientX - r.left) * W / r.width, y: (ev.clientY - r.top) * H / r.height };
  }
  function nodeAt(pt) {
    var best = null, bestD = 14 * 14;
    data.nodes.forEach(function (n) {
      if (!visible(n)) return;
      var p = screen(n), d = (p.x - pt.x) * (p.x - pt.x) + (p.y - pt.y) * (p.y - pt.y);
      if (d < bestD) { best = n; bestD = d; }
    });
    return best;
  }
  var drag = null, moved = false;
  canvas.addEventListener("pointerdown", function (ev) { drag = toCanvas(ev); moved = false; canvas.setPointerCapture(ev.pointerId); });
  canvas.addEventListener("pointermove", function (ev) {
    var pt = toCanvas(ev);
    if (drag) {
      if (Math.abs(pt.x - drag.x) + Math.abs(pt.y - drag.y) > 3) moved = true;
      view.x += pt.x - drag.x; view.y += pt.y - drag.y; drag = pt; draw(); return;
    }
    var n = nodeAt(pt);
    if (n !== hover) { hover = n; canvas.style.cursor = n ? "pointer" : "grab"; document.getElementById("graph-hover").textContent = n ? n.label + " (" + n.kind + ")" : ""; draw(); }
  });
  canvas.addEventListener("pointerup", function (ev) {
    var pt = toCanvas(ev);
    drag = null;
    if (!moved) { var n = nodeAt(pt); if (n) window.location.href = "../" + n.href; }
  });
  function zoom(f, cx, cy) {
    cx = cx === undefined ? W / 2 : cx; cy = cy === undefined ? H / 2 : cy;
    view.x = cx - (cx - view.x) * f; view.y = cy - (cy - view.y) * f; view.k *= f; draw();
  }
  canvas.addEventListener("wheel", function (ev) { ev.preventDefault(); var pt = toCanvas(ev); zoom(ev.deltaY < 0 ? 1.2 : 1 / 1.2, pt.x, pt.y); }, { passive: false });
  document.getElementById("zoom-in").addEventListener("click", function () { zoom(1.25); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoom(0.8); });
  document.getElementById("zoom-reset").addEventListener("click", function () { view = { x: 0, y: 0, k: 1 }; draw(); });
  document.querySelectorAll("input[name=kind]").forEach(function (box) {
    box.addEventListener("change", function () { if (box.checked) kinds.add(box.value); else kinds.delete(box.value); draw(); });
  });
  relSelect.addEventListener("change", function () { relation = relSelect.value; draw(); });
  document.getElementById("graph-colour").addEventListener("change", function (ev) { colourBy = ev.target.value; draw(); });

  // For tests and tools: where a node is drawn, in page coordinates.
  window.sdwikiGraph = {
    pagePosition: function (label) {
      var n = data.nodes.find(function (m) { return m.label === label; });
      if (!n) return null;
      var p = screen(n), r = canvas.getBoundingClientRect();
      return { x: r.left + p.x * r.width / W, y: r.top + p.y * r.height / H };
    }
  };
  draw();
})();
