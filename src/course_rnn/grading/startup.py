"""Fast start for grading worker processes (imported first in the pool's server only).

nbformat imports jsonschema, which, when the optional ``rfc3987_syntax`` package is
installed (it is, through Jupyter's dependencies), compiles an RFC 3987 grammar at import
time: about 1.5 s of CPU, 90% of a worker's start-up, spent on IRI format checks that
notebook validation never uses. Marking the module as absent makes jsonschema skip that
optional checker. This runs only in the worker pool's own server process, never in the
instructor's process or in tests, so nothing else loses the checker.
"""

from __future__ import annotations

import sys

if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]
