#!/usr/bin/env bash
# Put the book's front-end files where Sphinx serves them, so the built site reads offline:
# MathJax 3, RequireJS and the Jupyter widgets HTML manager, pinned in package-lock.json and
# installed from the npm registry. Run by `make book`; does nothing when already up to date.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vendor="$here/../_vendor"
stamp="$here/node_modules/.course-rnn-stamp"

if [ ! -f "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ]; then
  command -v npm >/dev/null || { echo "vendor.sh: npm (Node.js) is needed to fetch MathJax and the widget manager" >&2; exit 1; }
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi

if [ ! -f "$vendor/.stamp" ] || [ "$stamp" -nt "$vendor/.stamp" ]; then
  rm -rf "$vendor"
  mkdir -p "$vendor/mathjax" "$vendor/widgets" "$vendor/requirejs"
  nm="$here/node_modules"
  cp -r "$nm/mathjax/es5/." "$vendor/mathjax/"
  cp "$nm/requirejs/require.js" "$vendor/requirejs/require.js"
  cp "$nm/@jupyter-widgets/html-manager/dist/embed-amd.js" "$vendor/widgets/"
  # The manager loads its icon fonts relative to the page: book/@jupyter-widgets/...
  # (widgets appear in chapters only). Sphinx copies _vendor_extra to the site's root.
  extra="$here/../_vendor_extra"
  rm -rf "$extra"
  fonts="$extra/book/@jupyter-widgets/html-manager/dist"
  mkdir -p "$fonts"
  find "$nm/@jupyter-widgets/html-manager/dist" -maxdepth 1 -type f \
    \( -name '*.woff2' -o -name '*.woff' -o -name '*.ttf' -o -name '*.eot' -o -name '*.svg' \) \
    -exec cp {} "$fonts/" \;
  touch "$vendor/.stamp"
fi
