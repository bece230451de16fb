"""How every output writes a probability: one clamp, one rounding for the contracts, one percent text.

The chart, the CDS card, ``radar rank``, the worklist and its HTML report each show the numbers
of the same analysis; they read them through here so that they say the same thing, and none of
them imports another's formatting. Values may come from untrusted JSON (worklist lines read back
for the report): anything that is not a finite number counts as 0, never as a certainty.
"""
from __future__ import annotations

import math


def finite(v) -> float:
    """A number from untrusted JSON: 0.0 when it is none, not a number or not finite."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) else 0.0


def unit(p) -> float:
    """A probability clamped to [0, 1]; anything that is not a finite number counts as 0."""
    return min(1.0, max(0.0, finite(p)))


def probability_value(p) -> float:
    """A probability for the NDJSON contracts (``radar rank``, the worklist): a float in [0, 1],
    4 decimals (not assessed, None: 0, as for an empty record)."""
    return round(unit(p), 4)


def percent(p) -> str:
    """A whole percent, never claiming 0% or 100% (``"<1%"``, ``"31%"``, ``">99%"``), so the chart,
    the CDS card and the worklist say the same number."""
    p = unit(p)
    if p < 0.005:
        return "<1%"
    if p >= 0.995:
        return ">99%"
    return f"{math.floor(100 * p + 0.5)}%"


def explains(explained: list[str], unexplained: list[str], annotated: bool = True) -> str:
    """What a documented rare diagnosis explains, from its findings' labels, to follow its name:
    "explains 4 of 7 findings: A, B. Not explained: C". One wording for the chart and the screen's
    report; ``annotated`` False: the knowledge has no findings for it, so nothing can be told."""
    n = len(explained) + len(unexplained)
    if not annotated:
        return f"has no findings in the knowledge base, so which of the {n} findings it explains cannot be told"
    if not unexplained:
        return f"explains all {n} findings" if n != 1 else "explains the one finding"
    if not explained:
        return f"explains none of the {n} findings"
    return f"explains {len(explained)} of {n} findings: {', '.join(explained)}. Not explained: {', '.join(unexplained)}"
