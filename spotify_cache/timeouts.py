"""One rule for odd timeouts, the same on every store.

Django's API takes any number of seconds.  Redis refuses an expiry past about
292 million years (and redis-py overflows converting ``inf``), while the
memory store kept such values for ever; NaN expired at once on one store and
never on the other.  So: ``inf`` and anything beyond ``FOREVER_AFTER`` means
"for ever" (``None``), NaN raises ``ValueError`` at the call, and everything
else is a float of seconds (``<= 0``: already expired).
"""

from __future__ import annotations

import math
from typing import Any

#: Timeouts at least this long (about 146 million years) are kept for ever:
#: Redis cannot express them (``now + PX`` must fit in 64 bits).
FOREVER_AFTER = 2.0**62 / 1000


def seconds(timeout: Any) -> float | None:
    """``timeout`` (a number or ``None``) as float seconds, ``None`` meaning for ever."""
    if timeout is None:
        return None
    try:
        value = float(timeout)
    except OverflowError:  # an int beyond any float
        value = math.inf if timeout > 0 else -math.inf
    if math.isnan(value):
        raise ValueError("a cache timeout cannot be NaN")
    return None if value >= FOREVER_AFTER else value
