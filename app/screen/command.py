"""``radar screen`` arguments → ``app.screen.run``: validated at the boundary, one clear line per mistake."""
from __future__ import annotations

import getpass
import os
import re
import sys
from pathlib import Path

from ..config.parse import normalize_iss
from .run import Options, ScreenError, screen_ehr, screen_files

INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
MASTER = re.compile(r"^(local(\[(\*|\d+)(,\d+)?\])?|spark://[\w.\-:,]+|k8s://\S+|yarn|mesos://\S+)$")
GROUP = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # a FHIR id
MAX_RADAR_TOP = 1000


def screen_command(args, settings, *, log=None) -> int:
    """Run ``radar screen``; 2 for a usage mistake, 1 when the screen failed, 0 when it wrote the worklist."""
    log = log or sys.stderr
    problem = _problem(args)
    if not problem and args.radar_top and settings.model is None:
        problem = "--radar-top needs RADAR_URL (the RaDaR service's OpenAI-compatible /v1 URL)"
    if problem:
        log.write(f"radar screen: {problem}\n")
        return 2
    options = Options(out=Path(args.out), report=Path(args.report) if args.report else None,
                      master=args.master or settings.screen.spark_master,
                      radar_top=args.radar_top, partitions=args.partitions, group=args.group, since=args.since,
                      workdir=Path(args.workdir) if args.workdir else None,
                      iss=normalize_iss(args.iss) if args.iss else None,
                      actor=args.actor or settings.screen.actor or os_user(),
                      progress=not args.no_progress, inputs=list(args.inputs))
    if options.master and not MASTER.match(options.master):
        log.write(f"radar screen: {options.master!r} is not a Spark master URL (local[*], spark://host:port, k8s://…)\n")
        return 2
    store = http = None
    try:
        if args.ehr:
            ehr = registered_ehr(settings, args.ehr)
            store, http = clients(settings)
            screen_ehr(options, settings, ehr, settings.keys, store, http, log=log)
        else:
            if options.iss:
                store, http = clients(settings)
            screen_files(options, settings, store=store, log=log)
    except ScreenError as exc:
        log.write(f"radar screen: {exc}\n")
        return 1
    finally:
        if http is not None:
            http.close()
        if store is not None:
            store.close()
    return 0


def _problem(args) -> str | None:
    problem = source_problem(args)
    if problem:
        return problem
    if args.iss and args.ehr:
        return "--iss is for files; with --ehr the EHR is known"
    if not 0 <= args.radar_top <= MAX_RADAR_TOP:
        return f"--radar-top must be between 0 and {MAX_RADAR_TOP}"
    if args.radar_top and not (args.ehr or args.iss):
        return "--radar-top needs the EHR the patients belong to (--ehr, or --iss for files)"
    return None


def source_problem(args) -> str | None:
    """What is wrong with the population a command reads (files or ``--ehr``/``--group``/``--since``,
    ``--partitions``), shared by ``radar screen`` and ``radar learn-background``; None when it is fine."""
    if args.ehr and args.inputs:
        return "give input files or --ehr, not both"
    if not args.ehr and not args.inputs:
        return "give input files (a Bulk export directory, NDJSON files) or --ehr ISS_OR_NAME --group ID"
    if args.ehr and not args.group:
        return "--ehr needs --group (the Group to export)"
    if args.group and not GROUP.match(args.group):
        return f"--group {args.group!r} is not a FHIR id"
    if args.since and not args.ehr:
        return "--since applies to a live export (--ehr)"
    if args.since and args.since != "auto" and not INSTANT.match(args.since):
        return f"--since {args.since!r}: expected auto or a FHIR instant such as 2026-11-30T00:00:00Z"
    if args.partitions is not None and not 1 <= args.partitions <= 100_000:
        return "--partitions must be between 1 and 100000"
    return None


def os_user() -> str:
    """Who runs the command, for the audit trail: the OS user, or the uid where it has no name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        return f"uid {os.getuid()}"


def registered_ehr(settings, name: str):
    """The registered EHR named ``name`` (its ``iss`` or its registry name) with a Backend Services
    registration; ``ScreenError`` saying which names there are otherwise."""
    ehr = (settings.ehr_for(name) if "://" in name else None) or \
        next((e for e in settings.ehrs.values() if e.name == name), None)
    if ehr is not None:
        if not ehr.backend_client_id:
            raise ScreenError(f"{ehr.name}: no backend_client_id in RADAR_EHRS (SMART Backend Services registration)")
        return ehr
    raise ScreenError(f"{name}: not a registered EHR (RADAR_EHRS names: "
                      f"{', '.join(e.name for e in settings.ehrs.values()) or 'none'})")


def clients(settings):
    """(store, HTTP client) of a population command, to be closed by the caller."""
    import httpx

    from ..services import USER_AGENT
    from ..store import connect

    store = connect(settings.redis_url, settings.data_dir, audit=settings.audit)
    http = httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0), headers={"User-Agent": USER_AGENT},
                        follow_redirects=False)
    return store, http
