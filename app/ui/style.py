"""The EHR's ``smart_style_url`` styles, validated so nothing but safe CSS values reach the page."""
from __future__ import annotations

import re

import httpx

STYLE_TTL = 24 * 3600
FAILURE_TTL = 300
_COLOR = re.compile(r"^(#[0-9a-fA-F]{3,8}|rgba?\([0-9.,%\s]+\)|[a-zA-Z]{3,20})$")
_FONT = re.compile(r"^[A-Za-z0-9 ,'\"-]{1,120}$")
_DIM = re.compile(r"^\d{1,3}(\.\d+)?(px|em|rem|%)?$")
# SMART style keys → our CSS custom properties, each with its validator.
KEYS = {
    "color_background": ("--bg", _COLOR), "color_text": ("--text", _COLOR),
    "color_highlight": ("--highlight", _COLOR), "color_error": ("--error", _COLOR),
    "color_success": ("--success", _COLOR), "color_modal_backdrop": ("--backdrop", _COLOR),
    "font_family_body": ("--font-body", _FONT), "font_family_heading": ("--font-heading", _FONT),
    "dim_font_size": ("--font-size", _DIM), "dim_spacing_size": ("--spacing", _DIM),
    "dim_border_radius": ("--radius", _DIM),
}


def css_variables(doc: dict) -> dict[str, str]:
    """CSS custom properties from a SMART style document; invalid or unknown values are dropped."""
    out = {}
    for key, (var, pattern) in KEYS.items():
        value = doc.get(key)
        if isinstance(value, str) and pattern.match(value.strip()):
            value = value.strip()
            if pattern is _DIM and value[-1].isdigit():
                value += "px"
            out[var] = value
    return out


def load(http: httpx.Client, store, url: str | None) -> dict[str, str]:
    """Fetch (cached per URL, which doubles as the version key) and validate the style; {} on any failure."""
    if not url or not url.startswith(("https://", "http://")):
        return {}
    cached = store.get("style", url)
    if cached is not None:
        return cached
    try:
        resp = http.get(url, headers={"Accept": "application/json"}, timeout=3.0)
        doc = resp.json() if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError, RecursionError):
        doc = None
    variables = css_variables(doc) if isinstance(doc, dict) else {}
    # A failed fetch falls back to our colours for a few minutes, then is tried again.
    store.set("style", url, variables, STYLE_TTL if doc is not None else FAILURE_TTL)
    return variables
