"""The disease vocabulary, defined once: ORPHA/OMIM code forms, their public pages, and the shape
of a disease with its evidence that the ranker and grounding both produce (one template macro,
``disease_head`` in ``templates/macros.html``, renders it)."""
from __future__ import annotations

from dataclasses import dataclass, field

ORPHA_PREFIX, OMIM_PREFIX = "ORPHA:", "OMIM:"
ORPHA_PAGE = "https://www.orpha.net/en/disease/detail/"
OMIM_PAGE = "https://omim.org/entry/"
# The only link targets the app ever renders from ranker or model output.
ALLOWED_LINKS = (ORPHA_PAGE, OMIM_PAGE)


def bare(code: str | int) -> str:
    """``"ORPHA:558"``, ``"OMIM:154700"`` or ``558`` → the bare number as text."""
    return str(code).rpartition(":")[2].strip()


def orpha_code(code: str | int | None) -> str | None:
    """The prefixed ORPHAcode (``"ORPHA:558"``) for any form of it; None stays None."""
    return None if code in (None, "") else f"{ORPHA_PREFIX}{bare(code)}"


def omim_code(code: str | int) -> str:
    """The prefixed OMIM number (``"OMIM:154700"``)."""
    return f"{OMIM_PREFIX}{bare(code)}"


def orpha_url(code: str | int) -> str:
    """The Orphanet page of a disorder."""
    return f"{ORPHA_PAGE}{bare(code)}"


def omim_url(code: str | int) -> str:
    """The OMIM entry page."""
    return f"{OMIM_PAGE}{bare(code)}"


def allowed_link(url: object) -> str | None:
    """``url`` when it is an Orphanet or OMIM page (and nothing that could break out of an attribute); else None."""
    if isinstance(url, str) and url.startswith(ALLOWED_LINKS) and all(c not in url for c in "\"'<> "):
        return url
    return None


@dataclass(kw_only=True)
class Disease:
    """A disease with its codes, its page and the phenotype evidence for and against it."""

    rank: int
    name: str
    orpha: str | None  # "ORPHA:558"
    omim: list[str]  # ["OMIM:154700"]
    url: str | None
    matching: list[dict] = field(default_factory=list)
    look_for: list[dict] = field(default_factory=list)
