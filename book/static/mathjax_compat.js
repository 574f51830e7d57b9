// The Jupyter widgets HTML manager typesets widget labels with MathJax 2's
// MathJax.Hub.Queue; the book serves MathJax 3, which has no Hub. Give it one that asks
// MathJax 3 to typeset the page instead. Loaded deferred, after MathJax's own script.
(function () {
  function shim() {
    var mathjax = window.MathJax;
    if (!mathjax || mathjax.Hub) {
      return;
    }
    mathjax.Hub = {
      Queue: function () {
        if (typeof mathjax.typesetPromise === "function") {
          mathjax.typesetPromise().catch(function () {});
        }
      },
    };
  }
  shim();
  document.addEventListener("DOMContentLoaded", shim);
})();
