"""``radar screen``: export (optionally), screen on Spark, write the worklist and report, hand off.

Two ways in, one way through:
- files: a Bulk export directory, NDJSON of resources, or NDJSON of Bundles;
- ``--ehr``: a live Group export through SMART Backend Services (``app.fetch.bulk``) into a
  work directory, then the same screen over every complete export kept there. A full export
  replaces the earlier ones; ``--since`` adds an incremental one on top (the newest version of
  each resource wins), so a nightly run asks the EHR only for what changed yet screens whole
  records.

Nothing the EHR sends names a file: a finished export's folder is named from this tool's own
sequence and clock, the manifest's ``transactionTime`` is kept only inside the state file (when it
is a FHIR instant), and only export folders this tool made, directly inside the work directory,
are ever deleted.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from ..fetch.fhir import valid_instant
from . import report, sources, worklist
from .progress import Bar

STATE = "screen-state.json"
PENDING = "pending"
EXPORT_NAME = re.compile(r"export-([0-9]{6})-[0-9]{8}T[0-9]{6}Z")  # export-<sequence>-<our UTC clock>
# Folders of earlier versions, named after a transactionTime that was a FHIR instant: still read, still replaced.
LEGACY_NAME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}_[0-9]{2}_[0-9]{2}(\.[0-9]+)?(Z|_[0-9]{2}_[0-9]{2})")
EXAMPLES = 5  # the EHR's messages shown per kind in the report


class ScreenError(Exception):
    """A screen that cannot start or finish; the message is safe to print."""


@dataclass
class Options:
    """What ``radar screen`` was asked to do."""

    out: Path
    report: Path | None = None
    master: str | None = None
    top: int = 10
    radar_top: int = 0
    partitions: int | None = None
    iss: str | None = None  # the EHR the records came from: flags reach its charts
    group: str | None = None
    since: str | None = None  # None: a full export; "auto": since the last one; or a FHIR instant
    workdir: Path | None = None
    actor: str = ""
    progress: bool = True
    inputs: list[str] = field(default_factory=list)


def screen_files(options: Options, settings, *, store=None, log=None, export: dict | None = None) -> dict:
    """Screen ``options.inputs``; write the worklist and the report; hand off when ``options.iss`` is set.
    ``export`` is what a live export said about itself (:func:`export_summary`), shown with the rest.
    Returns the summary."""
    from . import spark

    log = log or sys.stderr
    try:
        files, unreadable = sources.readable(sources.expand(options.inputs))
    except sources.InputError as exc:
        raise ScreenError(str(exc)) from None
    if not files:
        raise ScreenError(f"no input file could be read ({'; '.join(unreadable[:3])})")
    started = time.monotonic()
    session = spark.session(options.master)
    try:
        result = spark.screen(session, files, thresholds=settings.cds_thresholds, top=options.top,
                              partitions=options.partitions, progress=Bar(log) if options.progress else None,
                              background=str(settings.background.path) if settings.background else None)
    except Exception as exc:  # a Spark job failure arrives as a Py4J error carrying a Java stack
        raise ScreenError(f"the Spark job failed ({_first_line(exc)}); nothing was written") from None
    background = _background(result, settings)
    if unreadable:
        result.bad_input[sources.UNREADABLE_FILE] = len(unreadable)
        result.bad_examples[:0] = unreadable[:5]
    options.out.parent.mkdir(parents=True, exist_ok=True)
    partial = options.out.with_name(options.out.name + ".part")
    with partial.open("w", encoding="utf-8") as fh:
        for item in result.lines():
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    partial.replace(options.out)  # a reader never sees half a worklist
    summary = {
        "patients": result.patients, "flagged": result.flagged, "warning": result.warning,
        "seconds": round(time.monotonic() - started, 1), "bad_input": result.bad_input,
        "bad_examples": result.bad_examples, "skipped": result.skipped, "inputs": options.inputs,
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "thresholds": {"min_probability": settings.cds_thresholds.min_probability,
                       "warning_probability": settings.cds_thresholds.warning_probability},
        "engine": "phenotype", "ehr": options.iss, "group": options.group, "master": session.sparkContext.master,
        "processes": result.processes, "background": background,
    }
    if export is not None:
        summary["export"] = export
    report_path = options.report or options.out.with_suffix(".html")
    report.write(report_path, _worklist(options.out), summary)
    summary["report"] = str(report_path)
    if options.iss and store is not None:
        _hand_off(options, settings, store, result, summary)
    log.write(summary_text(summary) + "\n")
    return summary


def screen_ehr(options: Options, settings, ehr, keys, store, http, *, log=None) -> dict:
    """Export ``options.group`` from ``ehr`` through Backend Services, then :func:`screen_files` over
    the work directory's exports."""
    log = log or sys.stderr
    export, since = export_group(options, ehr, keys, store, http, log=log, limits=settings.bulk)
    return screen_files(options, settings, store=store, log=log, export=export_summary(export, since))


def export_summary(export, since: str | None) -> dict:
    """What a finished export says about itself, for the summary line and the report: its
    ``transactionTime`` (None unless a FHIR instant), the ``_since`` asked for, how many errors the
    EHR reported (the manifest's OperationOutcome files) and how many attachments were not read,
    with the first few of each."""
    errors = [str(e) for e in export.errors]
    more = re.fullmatch(r"… and ([0-9]+) more", errors[-1]) if errors else None  # the Bulk client's cap
    if more:
        errors.pop()
    binary = [str(e) for e in export.binary_errors]
    return {"transaction_time": export.transaction_time if valid_instant(export.transaction_time) else None,
            "since": since, "errors": len(errors) + (int(more.group(1)) if more else 0),
            "error_examples": [e[:sources.EXAMPLE_CHARS] for e in errors[:EXAMPLES]],
            "binary_errors": len(binary), "binary_examples": [e[:sources.EXAMPLE_CHARS] for e in binary[:EXAMPLES]]}


def export_group(options: Options, ehr, keys, store, http, *, log=None, limits=None):
    """Export ``options.group`` from ``ehr`` into the work directory (a full export replaces the kept
    ones, ``--since`` adds an increment) and point ``options.inputs`` at every complete export kept
    there; (the export's manifest, the ``_since`` it asked for). ``radar screen --ehr`` and
    ``radar learn-background --ehr`` share it. ``limits`` (``settings.bulk``, ``RADAR_BULK_*``) bound
    what the EHR may send; files without a token may come from the EHR's ``bulk_file_hosts``."""
    from ..fetch import bulk
    from ..smart.backend import BackendAuth

    log = log or sys.stderr
    workdir = options.workdir or options.out.parent / "radar-export" / _slug(f"{ehr.iss}-{options.group}")
    workdir.mkdir(parents=True, exist_ok=True)
    since = _since(options.since, workdir, log)
    auth = BackendAuth(http, store, ehr, keys)
    try:
        export = bulk.export(http, auth, ehr.iss, workdir / PENDING, group=options.group, since=since,
                             progress=lambda text: log.write(f"export: {text}\n"), limits=limits,
                             file_hosts=ehr.bulk_file_hosts)
    except bulk.BulkError as exc:
        raise ScreenError(f"the Bulk export failed: {exc}") from None
    instant = export.transaction_time if valid_instant(export.transaction_time) else None
    if instant is None:
        # The files are fine; only where the next increment starts is unknown. Asking again since the
        # same point (or for everything) misses nothing: the newest version of each resource wins.
        then = f"the next --since auto asks again for changes since {since}" if since else \
            "the next --since auto will be a full export"
        log.write(f"export: warning: the EHR's manifest has no valid transactionTime (a FHIR instant); {then}\n")
    done = _keep(workdir)
    if since is None:  # a full export: the earlier ones are superseded
        for old in _exports(workdir):
            if old != done:
                _remove(workdir, old)
    _write_state(workdir, {"transaction_time": instant or since, "iss": ehr.iss, "group": options.group})
    options.inputs = [str(p) for p in _exports(workdir)]
    options.iss = ehr.iss
    return export, since


def _keep(workdir: Path) -> Path:
    """Move the finished export out of ``pending`` into a folder named from this tool's own sequence and clock."""
    taken = [int(m.group(1)) for p in workdir.iterdir() if (m := EXPORT_NAME.fullmatch(p.name))]
    done = workdir / f"export-{max(taken, default=0) + 1:06d}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    (workdir / PENDING).rename(done)  # a new sequence number: nothing is there to replace
    return done


def _exports(workdir: Path) -> list[Path]:
    """The finished exports kept in ``workdir``, oldest first: folders (never links) named as this tool
    names them and holding the Bulk client's state file."""
    from ..fetch.bulk import STATE as EXPORT_STATE

    return sorted(p for p in workdir.iterdir()
                  if (EXPORT_NAME.fullmatch(p.name) or LEGACY_NAME.fullmatch(p.name)) and not p.is_symlink()
                  and p.is_dir() and (p / EXPORT_STATE).is_file() and not (p / EXPORT_STATE).is_symlink())


def _remove(workdir: Path, folder: Path) -> None:
    """Delete an export folder, only a real folder directly inside ``workdir`` (links inside it are
    removed, never followed)."""
    if folder.is_symlink() or folder.resolve().parent != workdir.resolve():
        raise ScreenError(f"{folder} is not an export folder of {workdir}; nothing was deleted")
    shutil.rmtree(folder)


def _write_state(workdir: Path, doc: dict) -> None:
    part = workdir / (STATE + ".part")
    part.write_text(json.dumps(doc), encoding="utf-8")
    part.replace(workdir / STATE)


def _background(result, settings) -> str:
    """The background the executors judged against, in words; the screen fails rather than mix two."""
    from ..rank.background import describe

    used = {p.get("background") for p in result.processes if p.get("patients")} - {None}
    site = settings.background
    if site is not None:
        want = describe({"name": site.name, "version": site.version, "records": site.records, "site": True})
        if used - {want}:
            raise ScreenError(f"executors judged against {', '.join(sorted(used))}, not RADAR_BACKGROUND's {want}: "
                              f"put {site.path} at the same path on every Spark executor")
        return want
    if len(used) > 1:
        raise ScreenError(f"executors judged against different backgrounds ({', '.join(sorted(used))})")
    return used.pop() if used else ""


def _since(since: str | None, workdir: Path, log) -> str | None:
    """The ``_since`` to ask for: as given, or with ``auto`` the last export's transactionTime read back
    from the state file, checked again (unknown: a full export, which misses nothing)."""
    if since != "auto":
        return since
    state = workdir / STATE
    if not state.exists():
        return None  # no earlier export: this one is full
    try:
        doc = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = None
    last = doc.get("transaction_time") if isinstance(doc, dict) else None
    if valid_instant(last):
        return last
    log.write(f"export: the last export's transactionTime is unknown (none, or not a FHIR instant, in {state}); "
              "this is a full export\n")
    return None


def _hand_off(options: Options, settings, store, result, summary: dict) -> None:
    from ..services import build
    from . import handoff

    handoff.remember(store, options.iss, _worklist(options.out), screened_at=summary["generated"], group=options.group)
    handoff.audit_screen(store, actor=options.actor, iss=options.iss, group=options.group,
                         patients=summary["patients"], flagged=summary["flagged"], since=options.since)
    if options.radar_top > 0:
        # The worklist is in order: the first flagged lines are the most probable.
        wanted = list(islice((line["patient"] for line in _worklist(options.out) if line["flagged"]), options.radar_top))
        summary["radar_queued"] = handoff.queue_radar(build(settings, store), options.iss,
                                                      _analysed(result, wanted, settings), options.radar_top)


def _worklist(path: Path):
    """The worklist's lines, read one at a time (a population's worklist need not fit in memory)."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def _analysed(result, patients: list[str], settings) -> list:
    """(record, analysis) of ``patients`` from the grouped input, rebuilt on the driver (a handful)."""
    from ..pipeline import analyse, load_knowledge
    from .spark import resources_of

    groups = resources_of(result, patients)
    kb = load_knowledge()
    out = []
    for pid in patients:
        record = worklist.record_of(pid, groups[pid])
        out.append((record, analyse(record, kb)))
    return out


def summary_text(summary: dict) -> str:
    """The summary printed at the end: patients, flagged, minutes, bad input, where the files are."""
    bad = ", ".join(f"{n:,} {kind}" for kind, n in sorted(summary["bad_input"].items())) or "none"
    problems = report.export_problems(summary.get("export"))
    text = (f"radar screen: {summary['patients']:,} patients in {summary['seconds'] / 60:.1f} min; "
            f"{summary['flagged']:,} flagged ({summary['warning']:,} warning); bad input: {bad}; "
            f"{'EHR export: ' + problems + '; ' if problems else ''}report: {summary.get('report')}")
    if summary.get("background"):
        text += f"; background: {summary['background']}"
    if summary.get("radar_queued"):
        text += f"; RaDaR queued for {summary['radar_queued']}"
    return text


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:120] or "export"
