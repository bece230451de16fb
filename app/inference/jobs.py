"""RaDaR jobs: one per unique case narrative, queued on Redis (RQ), cached, streamed live.

A case is identified by the hash of what the model is asked (model, system prompt, sampling
settings and the narrative), so a second launch of the same patient finds the running or
finished analysis at once. The worker appends reasoning and answer text to Redis as it arrives;
the chart polls it. The state lives in Redis, so it survives web restarts; a worker that dies
mid-job stops its heartbeat and the case is reported as failed with the reason (never left
"running"), ready to run again.

The ``radar worker`` process (``work``) outlives Redis outages: RQ's loop ends when Redis goes
away and is started again with backoff. Every worker beats every ``WORKER_BEAT`` seconds: a key in
the store (``workers_alive``; a queued case with no worker says so) and a file in its data
directory that the pod's probes read (``check_worker``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import signal
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Retry, Worker, get_current_job
from rq.exceptions import NoSuchJobError, StopRequested
from rq.job import Job

from .. import services
from ..store import connect, parent_death_signal
from .client import InferenceError, complete
from .grounding import ground_answer

log = logging.getLogger("radar.jobs")

QUEUE = "radar"
CASE_TTL = 24 * 3600
JOB_TIMEOUT = 1800
HEARTBEAT = 5  # seconds between heartbeats while the model is silent
ACTIVE = ("queued", "running", "retrying")
WORKER_KIND = "worker-heartbeat"  # store kind: one key per live worker
WORKER_BEAT = 10  # seconds between a worker's heartbeats
WORKER_BEAT_TTL = 30  # a worker silent this long is gone
WORKER_STALE = 60  # a heartbeat file older than this fails the worker pod's probes
HEARTBEAT_FILE = "worker-heartbeat"
QUEUED_NOTICE = 60  # seconds a case may wait in the queue before the chart says no worker is there
NO_WORKER = "No RaDaR worker is running; the case will start when one is."
MAX_BACKOFF = 30.0


def case_id(model, narrative: str) -> str:
    """The case key: everything that determines the model's answer."""
    basis = json.dumps([model.model, model.instruction, model.prompt_placement, model.temperature, model.top_p,
                        model.max_tokens, narrative])
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def _live(kind: str) -> str:
    """The store kind of a case's live text (reasoning, content) or its cancel flag."""
    return f"case-{kind}"


def submit(store, rq: Redis, model, narrative: str, *, present: list[str], absent: list[str], edited: bool = False,
           force: bool = False, grace: int = 60, owner: str | None = None, ttl: int | None = None) -> str:
    """Queue the case unless it is already running or done (``force`` runs it again). Returns its id.

    The case and its texts are kept ``ttl`` seconds (``CASE_TTL`` when None); a case already there that
    would expire sooner than a given ``ttl`` is kept that long from now.
    """
    cid = case_id(model, narrative)
    existing = store.get("case", cid)
    if existing and not force and (existing["status"] == "done" or
                                   (existing["status"] in ACTIVE and not _stale(existing, model, grace))):
        if ttl is not None and store.ttl("case", cid) < ttl:
            _keep(store, cid, ttl)
        return cid
    now = time.time()
    store.set("case", cid, {"id": cid, "owner": owner, "narrative": narrative, "edited": edited, "present": present,
                            "absent": absent,
                            "status": "queued", "model": model.model, "created": now, "heartbeat": now,
                            "error": None, "diagnoses": [], "finish_reason": None, "ttl": ttl or CASE_TTL},
              ttl or CASE_TTL)
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


def owner(iss: str, patient: str) -> str:
    """Whose a case is: one patient at one EHR, ``iss|patient id`` (``iss`` without a trailing slash).

    The access rule of every case: the chart, the CDS card and the population screen write it when
    they start one, and a chart session opens a case only when it names the session's EHR and patient.
    """
    return f"{iss.rstrip('/')}|{patient}"


def belongs(store, cid: str, iss: str, patient: str) -> bool:
    """True when the case ``cid`` is kept and is ``patient``'s at ``iss`` (:func:`owner`)."""
    return len(cid) == 32 and (store.get("case", cid) or {}).get("owner") == owner(iss, patient)


def submit_for(ctx, narrative: str, *, owner: str | None, present: list[str], absent: list[str],
               edited: bool = False, force: bool = False, ttl: int | None = None) -> str:
    """Queue RaDaR for a case owned by ``owner`` (:func:`owner`) with this process's model and stale
    grace (``ctx``: ``app.services.Services``); every door starts its cases here. Returns the case id."""
    return submit(ctx.store, ctx.rq, ctx.settings.model, narrative, present=present, absent=absent, edited=edited,
                  force=force, grace=ctx.settings.job_stale_grace, owner=owner, ttl=ttl)


def _keep(store, cid: str, ttl: int) -> None:
    # The worker reads the record's ttl when it writes the final texts.
    _update(store, cid, ttl=ttl)
    for kind in ("case", _live("reasoning"), _live("content")):
        store.touch(kind, cid, ttl)


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
    if (case["status"] == "queued" and time.time() - case.get("created", 0) > QUEUED_NOTICE
            and not workers_alive(store)):
        # Not failed: the job stays queued and starts when a worker comes.
        case["notice"] = NO_WORKER
    elif case["status"] in ACTIVE and _stale(case, model, grace):
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
    last_beat, keep = [time.time()], int(case.get("ttl") or CASE_TTL)

    def on_piece(kind: str, text: str) -> None:
        store.append_text(_live(kind), cid, text)
        if time.time() - last_beat[0] > 1:
            last_beat[0] = time.time()
            store.touch(_live(kind), cid, keep)
            _update(store, cid, heartbeat=last_beat[0])

    started = time.perf_counter()
    try:
        completion = complete(model, case["narrative"], on_piece=on_piece,
                              cancelled=lambda: store.exists(_live("cancel"), cid))
    except InferenceError as exc:
        if exc.kind == "cancelled":
            _update(store, cid, status="cancelled", error="cancelled by the clinician", finished=time.time())
            return "cancelled"
        job = get_current_job()
        again = exc.retryable and job is not None and bool(job.retries_left)
        log.warning("case failed: %s (retryable=%s, tried again=%s)", exc.kind, exc.retryable, again)
        if again:
            _update(store, cid, status="retrying", error=exc.message, heartbeat=time.time())
            raise  # RQ runs the job again (Retry in submit)
        _update(store, cid, status="failed", error=exc.message, heartbeat=time.time(), finished=time.time())
        return "failed"
    diagnoses = ground_answer(completion.content, ctx.knowledge, present=case["present"], absent=case["absent"])
    _update(store, cid, status="done", finished=time.time(), heartbeat=time.time(), diagnoses=[asdict(d) for d in diagnoses],
            finish_reason=completion.finish_reason, usage=completion.usage, model=completion.model or case["model"])
    # The final texts also live in the case record, so the cache outlives the live keys.
    keep = int((store.get("case", cid) or {}).get("ttl") or keep)  # submit may have kept it longer meanwhile
    store.set_text(_live("reasoning"), cid, completion.reasoning, keep)
    store.set_text(_live("content"), cid, completion.content, keep)
    log.info("case done in %.1f s, %d diagnoses", time.perf_counter() - started, len(diagnoses))
    return "done"


def workers_alive(store) -> int:
    """How many ``radar worker`` processes sent a heartbeat within the last ``WORKER_BEAT_TTL`` seconds."""
    return store.count(WORKER_KIND)


def beat(store, data_dir: Path, name: str, now: float | None = None) -> None:
    """One heartbeat of worker ``name``: the file its pod's probes read, then its key in the store."""
    now = time.time() if now is None else now
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = data_dir / f"{HEARTBEAT_FILE}.partial"
    partial.write_text(json.dumps({"name": name, "time": now}))
    partial.replace(data_dir / HEARTBEAT_FILE)  # a probe never reads half a file
    store.set_text(WORKER_KIND, name, str(now), WORKER_BEAT_TTL)


def check_worker(settings, *, ready: bool = False, max_age: float = WORKER_STALE) -> str | None:
    """Why this pod's worker is not alive (or, with ``ready``, cannot reach Redis); None when it is."""
    try:
        last = json.loads((settings.data_dir / HEARTBEAT_FILE).read_text())
    except (OSError, ValueError):
        return "no worker heartbeat yet"
    age = time.time() - float(last["time"])
    if age > max_age:
        return f"the worker's last heartbeat is {age:.0f} s old"
    if ready and settings.redis_url:
        try:
            if not connect(settings.redis_url, settings.data_dir).exists(WORKER_KIND, last["name"]):
                return f"the worker has not reached Redis in the last {WORKER_BEAT_TTL} s"
        except RedisError:
            return "Redis is unreachable"
    return None


class _Worker(Worker):
    """RQ's worker that tells a stop request from a lost Redis, with its work horse tied to it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stopping = False
        self._tie_horse = parent_death_signal(signal.SIGKILL)

    def request_stop(self, signum, frame):
        """SIGTERM/SIGINT: finish the running job, then stop (also while Redis is away)."""
        self.stopping = True
        try:
            super().request_stop(signum, frame)
        except RedisError:
            raise StopRequested() from None

    def main_work_horse(self, job, queue):
        """The forked work horse: it dies with the worker, so a killed worker leaves no job running."""
        if self._tie_horse:
            self._tie_horse()
        super().main_work_horse(job, queue)


def work(ctx, queues: tuple[str, ...] = (QUEUE,)) -> None:
    """Run the worker until SIGTERM/SIGINT. RQ's loop ends when Redis goes away; it is started again
    with backoff, so a Redis outage (or one at start-up) never takes the worker down."""
    name, data_dir = uuid.uuid4().hex, ctx.settings.data_dir
    (data_dir / HEARTBEAT_FILE).unlink(missing_ok=True)
    stopped = threading.Event()
    beats = threading.Thread(target=_beat_until, args=(ctx.store, data_dir, name, stopped), name="worker-heartbeat",
                             daemon=True)
    beats.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)  # until RQ's loop installs its own
    worker, backoff = None, 1.0
    try:
        while True:
            started = time.monotonic()
            try:
                if worker is None:
                    worker = _Worker(list(queues), connection=ctx.rq, name=name)
                else:
                    worker.register_death()  # the lost run's registration, so the name can register again
                worker.work(with_scheduler=False)
            except (RedisConnectionError, RedisTimeoutError):
                pass
            if worker is not None and worker.stopping:
                break
            if worker is not None and worker.pubsub_thread:
                worker.pubsub_thread.stop()  # RQ's teardown could not stop its command listener
            backoff = 1.0 if time.monotonic() - started > 60 else backoff
            log.warning("worker: RQ's loop ended (Redis unavailable?); starting it again in %.0f s", backoff)
            _pause(backoff, worker)
            backoff = min(backoff * 2, MAX_BACKOFF)
    except StopRequested:
        pass
    finally:
        stopped.set()
        beats.join(timeout=5)
        _forget(ctx.store, data_dir, name)


def _stop(signum, frame):
    raise StopRequested()


def _pause(seconds: float, worker: _Worker | None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if worker is not None and worker.stopping:
            raise StopRequested()
        time.sleep(0.1)


def _beat_until(store, data_dir: Path, name: str, stopped: threading.Event) -> None:
    down = False
    while True:
        try:
            beat(store, data_dir, name)
            if down:
                log.info("worker heartbeat: Redis is back")
            down = False
        except RedisError as exc:
            if not down:
                log.warning("worker heartbeat: Redis unavailable (%s)", type(exc).__name__)
            down = True
        if stopped.wait(WORKER_BEAT):
            return


def _forget(store, data_dir: Path, name: str) -> None:
    # A worker that stops says so at once, rather than after its key's TTL.
    (data_dir / HEARTBEAT_FILE).unlink(missing_ok=True)
    try:
        store.delete(WORKER_KIND, name)
    except RedisError:
        pass
