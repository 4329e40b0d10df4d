// nncourse: search results a reader can use (loaded on every page, acts on the search page).
// - each page is listed once (Sphinx lists a page again for each matching section title);
// - snippets leave out typeset math (raw TeX before MathJax) and the page's toolbar
//   (the download menu's ".md"/".pdf");
// - over file:// the snippets are not fetched (the browser forbids it: an uncaught TypeError).
function nncourseSearch() {
  if (typeof Search === "undefined" || Search.nncourse) return;
  Search.nncourse = true;
  if (window.location.protocol === "file:" && typeof DOCUMENTATION_OPTIONS !== "undefined")
    DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false;
  const perform = Search._performSearch;
  Search._performSearch = function () {
    const results = perform.apply(this, arguments); // best last (results are popped)
    const seen = new Set();
    const kept = [];
    for (let i = results.length - 1; i >= 0; i--) {
      if (seen.has(results[i][0])) continue;
      seen.add(results[i][0]);
      kept.unshift(results[i]);
    }
    return kept;
  };
  const summary = Search.makeSearchSummary;
  Search.makeSearchSummary = function (htmlText, keywords, anchor) {
    const doc = new DOMParser().parseFromString(htmlText, "text/html");
    doc.querySelectorAll(".math, .bd-header-article, .header-article-items, .dropdown-menu, "
        + ".article-header-buttons, .cell_input, .prev-next-area, .toggle-details__summary")
      .forEach((e) => e.replaceWith(" … "));
    return summary.call(this, doc.documentElement.outerHTML, keywords, anchor);
  };
}
// this script may come before searchtools.js: then patch before its DOMContentLoaded handler
if (typeof Search !== "undefined") nncourseSearch();
else document.addEventListener("DOMContentLoaded", nncourseSearch);
