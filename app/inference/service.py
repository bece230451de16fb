"""Is the RaDaR inference service up and serving our model? Checked at start-up and at most every
``INTERVAL`` seconds after that, shared by all processes through Redis."""
from __future__ import annotations

import logging
import time

log = logging.getLogger("radar.service")
INTERVAL = 30


def status(store, model, *, fresh: bool = False) -> dict:
    """``{"configured", "ok", "detail", "checked"}``; never raises."""
    if model is None:
        return {"configured": False, "ok": False, "detail": "RADAR_URL is not set", "checked": time.time()}
    cached = None if fresh else store.get("service", model.url)
    if cached is not None:
        return cached
    from .client import check_service

    result = check_service(model)
    state = {"configured": True, "ok": bool(result.ok), "detail": result.detail, "checked": time.time()}
    if not state["ok"]:
        log.warning("RaDaR service unavailable: %s", result.detail)
    store.set("service", model.url, state, INTERVAL)
    return state
