"""Benchmarks of the ShadowTestExperiment construct: run ``.venv/bin/python -m benchmarks``.

Not part of the test suite. Writes ``BENCHMARKS.md``; see ``benchmarks/__main__.py`` for options.
"""

from __future__ import annotations

import sys

# Write no bytecode beside the modules this imports (devtools/, lambda/): a benchmark leaves the
# source tree as it found it; the children get PYTHONDONTWRITEBYTECODE for the same reason.
sys.dont_write_bytecode = True
