"""RaDaR jobs: one per unique case narrative, queued on Redis (RQ), cached, streamed live.

A case is identified by the hash of what the model is asked (model, system prompt, sampling
settings and the narrative), so a second launch of the same patient finds the running or
finished analysis at once. The worker appends reasoning and answer text to Redis as it arrives;
the chart polls it. The state lives in Redis, so it survives web restarts; a worker that dies
mid-job stops its heartbeat and the case is reported as failed with the reason (never left
"running"), ready to run again.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job

from .. import services
from .client import InferenceError, complete
from .grounding import ground_answer

log = logging.getLogger("radar.jobs")

QUEUE = "radar"
CASE_TTL = 24 * 3600
JOB_TIMEOUT = 1800
HEARTBEAT = 5  # seconds between heartbeats while the model is silent
ACTIVE = ("queued", "running", "retrying")


def case_id(model, narrative: str) -> str:
    """The case key: everything that determines the model's answer."""
    basis = json.dumps([model.model, model.system_prompt, model.temperature, model.top_p, model.max_tokens, narrative])
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def _live(kind: str) -> str:
    """The store kind of a case's live text (reasoning, content) or its cancel flag."""
    return f"case-{kind}"


def submit(store, rq: Redis, model, narrative: str, *, present: list[str], absent: list[str], edited: bool = False,
           force: bool = False, grace: int = 60, owner: str | None = None) -> str:
    """Queue the case unless it is already running or done (``force`` runs it again). Returns its id."""
    cid = case_id(model, narrative)
    existing = store.get("case", cid)
    if existing and not force and (existing["status"] == "done" or
                                   (existing["status"] in ACTIVE and not _stale(existing, model, grace))):
        return cid
    now = time.time()
    store.set("case", cid, {"id": cid, "owner": owner, "narrative": narrative, "edited": edited, "present": present, "absent": absent,
                            "status": "queued", "model": model.model, "created": now, "heartbeat": now,
                            "error": None, "diagnoses": [], "finish_reason": None}, CASE_TTL)
    for kind in ("reasoning", "content", "cancel"):
        store.delete(_live(kind), cid)
    queue = Queue(QUEUE, connection=rq)
    try:
        Job.fetch(f"case-{cid}", connection=rq).delete()
    except NoSuchJobError:
        pass
    queue.enqueue(run_case, cid, job_id=f"case-{cid}", job_timeout=JOB_TIMEOUT, result_ttl=600, failure_ttl=CASE_TTL,
                  retry=Retry(max=2))
    log.info("case queued")
    return cid


def cancel(store, cid: str) -> None:
    """Ask the worker to stop (it checks between chunks); a queued case is cancelled at once."""
    store.set_text(_live("cancel"), cid, "1", CASE_TTL)
    case = store.get("case", cid)
    if case and case["status"] in ("queued", "retrying"):
        _update(store, cid, status="cancelled", error="cancelled by the clinician")


def view(store, cid: str, model, grace: int = 60) -> dict | None:
    """The case as the chart shows it: status, live reasoning and answer, grounded diagnoses."""
    case = store.get("case", cid)
    if case is None:
        return None
    if case["status"] in ACTIVE and _stale(case, model, grace):
        _update(store, cid, status="failed", error="the RaDaR worker stopped while working on this case; run it again")
        case = store.get("case", cid)
    case["reasoning"] = store.get_text(_live("reasoning"), cid) or ""
    case["content"] = store.get_text(_live("content"), cid) or ""
    return case


def _stale(case: dict, model, grace: int) -> bool:
    # The model streams continuously; silence longer than the read timeout (plus the time a
    # queued job may wait for a free worker) means the worker is gone.
    limit = (model.read_timeout if model else 120) + grace
    if case["status"] == "queued":
        limit += JOB_TIMEOUT / 2
    return time.time() - case.get("heartbeat", 0) > limit


def _update(store, cid: str, **fields) -> dict | None:
    case = store.get("case", cid)
    if case is None:
        return None
    case.update(fields)
    store.replace("case", cid, case)
    return case


def run_case(cid: str) -> str:
    """RQ job: stream the model's answer into Redis, then parse and ground it."""
    ctx = services.for_process()
    store, model = ctx.store, ctx.settings.model
    case = store.get("case", cid)
    if case is None or case["status"] == "cancelled":
        return "gone"
    if model is None:
        _update(store, cid, status="failed", error="RaDaR service is not configured (RADAR_URL)")
        return "failed"
    _update(store, cid, status="running", started=time.time(), heartbeat=time.time())
    for kind in ("reasoning", "content"):
        store.delete(_live(kind), cid)
    last_beat = [time.time()]

    def on_piece(kind: str, text: str) -> None:
        store.append_text(_live(kind), cid, text)
        if time.time() - last_beat[0] > 1:
            last_beat[0] = time.time()
            store.touch(_live(kind), cid, CASE_TTL)
            _update(store, cid, heartbeat=last_beat[0])

    started = time.perf_counter()
    try:
        completion = complete(model, case["narrative"], on_piece=on_piece,
                              cancelled=lambda: store.exists(_live("cancel"), cid))
    except InferenceError as exc:
        if exc.kind == "cancelled":
            _update(store, cid, status="cancelled", error="cancelled by the clinician", finished=time.time())
            return "cancelled"
        log.warning("case failed: %s (retryable=%s)", exc.kind, exc.retryable)
        _update(store, cid, status="retrying" if exc.retryable else "failed", error=exc.message,
                heartbeat=time.time(), finished=time.time())
        if exc.retryable:
            raise  # RQ retries the job (Retry above); the last failure stays recorded
        return "failed"
    diagnoses = ground_answer(completion.content, ctx.knowledge, present=case["present"], absent=case["absent"])
    _update(store, cid, status="done", finished=time.time(), heartbeat=time.time(), diagnoses=[asdict(d) for d in diagnoses],
            finish_reason=completion.finish_reason, usage=completion.usage, model=completion.model or case["model"])
    # The final texts also live in the case record, so the cache outlives the live keys.
    store.set_text(_live("reasoning"), cid, completion.reasoning, CASE_TTL)
    store.set_text(_live("content"), cid, completion.content, CASE_TTL)
    log.info("case done in %.1f s, %d diagnoses", time.perf_counter() - started, len(diagnoses))
    return "done"
