// Search page: start Pagefind's interface and run the query passed as ?q=.
(function () {
  "use strict";
  var el = document.getElementById("search");
  if (!el || typeof PagefindUI === "undefined") return;
  // A large site's index is made in parts: pagefind/ holds the first, pagefind/part-<k>/ the others.
  var merged = [];
  for (var k = 1; k < parseInt(el.getAttribute("data-parts") || "1", 10); k++) {
    merged.push({ bundlePath: "../pagefind/part-" + k + "/", baseUrl: "../" });
  }
  var ui = new PagefindUI({
    element: "#search", showSubResults: true, showImages: false, baseUrl: "../", mergeIndex: merged
  });
  // Give Pagefind's input a visible label.
  var tries = 0;
  (function label() {
    var input = el.querySelector(".pagefind-ui__search-input");
    if (!input) { if (tries++ < 50) setTimeout(label, 20); return; }
    input.id = "search-page-input";
    var l = document.createElement("label");
    l.htmlFor = input.id;
    l.textContent = "Search the wiki for";
    el.parentNode.insertBefore(l, el);
  })();
  var q = new URLSearchParams(window.location.search).get("q");
  if (q) ui.triggerSearch(q);
})();
