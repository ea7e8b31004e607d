"""How many examples each property test draws: a fifth in the fast set, all of them in ``./dev slow``.

The fast set (README's test command) keeps every property test with fewer examples; ``./dev slow`` runs
the property tests again with the full count (``SHADOW_TEST_THOROUGH=1``).
"""

from __future__ import annotations

import os

THOROUGH = os.environ.get("SHADOW_TEST_THOROUGH") == "1"


def examples(full: int) -> int:
    """The number of examples to draw for a property test that is thorough at ``full``."""
    return full if THOROUGH else max(10, full // 5)
