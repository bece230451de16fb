"""The ``radar`` console script: worker, keys, audit export."""
from __future__ import annotations

import argparse
import json
import sys

from .config import ConfigError, load_settings

QUEUES = ["radar"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``radar``."""
    parser = argparse.ArgumentParser(prog="radar", description="RaDaR in the chart")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("worker", help="run the background worker (RQ) on Redis")
    check = sub.add_parser("worker-check", help="probe: exit 0 when this pod's worker heartbeat is fresh")
    check.add_argument("--ready", action="store_true", help="also require that the worker reaches Redis")
    sub.add_parser("check-config", help="validate the settings from the environment and exit")
    keys = sub.add_parser("keys", help="print a new private JWK Set (RS384 + ES384) for private_key_jwt")
    keys.add_argument("--public", action="store_true", help="print the public JWKS of RADAR_JWKS(_FILE) instead")
    rank = sub.add_parser("rank", help="rank rare diseases for FHIR Bundles (one patient each); NDJSON out")
    rank.add_argument("file", help="a FHIR Bundle (JSON) or NDJSON with one Bundle per line; - for stdin")
    rank.add_argument("--top", type=int, default=10, help="suggestions per patient (default 10)")
    rank.add_argument("--engine", choices=["phenotype", "radar"], default="phenotype",
                      help="phenotype: the embedded HPO/Orphanet ranker; radar: RaDaR at RADAR_URL")
    _screen_parser(sub)
    _learn_parser(sub)
    build = sub.add_parser("build-knowledge", help="compile app/knowledge/data from the shared sources")
    build.add_argument("--source", default=None, help="folder with the Orphanet, HPO and loinc2hpo files")
    feedback = sub.add_parser("feedback", help="CDS Hooks card feedback")
    feedback.add_argument("action", choices=["export"], help="export the feedback as NDJSON on stdout")
    audit = sub.add_parser("audit", help="audit trail")
    audit.add_argument("action", choices=["export", "flush"],
                       help="export: the events still in Redis as NDJSON on stdout; flush: move the events not yet "
                            "exported to RADAR_AUDIT_SINK now")
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"radar: configuration error: {exc}", file=sys.stderr)
        return 2


def cmd_worker(args) -> int:
    """Run an RQ worker for the app's queues until SIGTERM/SIGINT; it outlives Redis outages."""
    from . import audit
    from .inference import jobs
    from .pipeline import warm_up
    from .services import for_process

    # The same set-up as the web app, made once here, so every forked job starts with the
    # knowledge and its indexes already in memory.
    ctx = for_process()
    audit.export_quietly(ctx.store)  # what a process that died after writing an event left behind
    warm_up(ctx.knowledge)
    print(f"radar worker: listening on queues {', '.join(QUEUES)}", flush=True)
    jobs.work(ctx, tuple(QUEUES))
    return 0


def cmd_worker_check(args) -> int:
    """Probe of a worker pod: exit 0 when its heartbeat is fresh (``--ready``: and it reaches Redis)."""
    from .inference.jobs import check_worker

    problem = check_worker(load_settings(), ready=args.ready)
    if problem:
        print(f"radar worker-check: {problem}", file=sys.stderr)
        return 1
    print("radar worker-check: ok")
    return 0


def cmd_check_config(args) -> int:
    """Validate settings; exit 0 when they are usable."""
    settings = load_settings()
    site = settings.background
    background = f"site {site.name!r} ({site.records:,} records, {site.path})" if site else "shipped default"
    print(f"ok: {len(settings.ehrs)} EHR(s) registered; redis: {'external' if settings.redis_url else 'embedded'}; "
          f"background: {background}")
    return 0


def cmd_keys(args) -> int:
    """Print a new private JWK Set, or the public half of the configured one."""
    from .smart.keys import generate_keys, public_jwks

    if args.public:
        print(json.dumps(public_jwks(load_settings().keys), indent=2))
    else:
        print(json.dumps(generate_keys().as_dict(private=True), indent=2))
    return 0


def cmd_audit(args) -> int:
    """Export the audit trail still in Redis as NDJSON, or flush the events not yet exported to the sink."""
    from . import audit
    from .store import connect

    settings = load_settings()
    store = connect(settings.redis_url, settings.data_dir, audit=settings.audit)
    if args.action == "flush":
        if not settings.audit.exports:
            print("radar audit flush: RADAR_AUDIT_SINK is none; the events stay in Redis", file=sys.stderr)
            return 0
        try:
            written = audit.export(store)
        except OSError as exc:
            print(f"radar audit flush: cannot write the {settings.audit.sink} sink: {exc.strerror}", file=sys.stderr)
            return 1
        print(f"radar audit flush: {written} event(s) written to the {settings.audit.sink} sink", file=sys.stderr)
        return 0
    for event in audit.events(store):
        sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")
    return 0


def cmd_rank(args) -> int:
    """Rank each input Bundle; one NDJSON line per input, in order; errors as lines with ``error``."""
    from .batch import rank_stream
    from .pipeline import load_knowledge, warm_up_for_batch

    if args.top < 1 or args.top > 100:
        print("radar rank: --top must be between 1 and 100", file=sys.stderr)
        return 2
    settings = load_settings()
    if args.engine == "radar" and settings.model is None:
        print("radar rank: --engine radar needs RADAR_URL (the RaDaR service's OpenAI-compatible /v1 URL)",
              file=sys.stderr)
        return 2
    if args.file == "-":
        source = sys.stdin
    else:
        try:
            source = open(args.file, encoding="utf-8")
        except OSError as exc:
            print(f"radar rank: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 2
    kb = load_knowledge()
    warm_up_for_batch(kb)
    with source:
        ok, failed = rank_stream(source, sys.stdout, kb, top=args.top, engine=args.engine, settings=settings)
    if ok == 0:
        print(f"radar rank: nothing could be read ({failed} bad input(s))", file=sys.stderr)
        return 1
    return 0


def cmd_build_knowledge(args) -> int:
    """Compile the knowledge files from the shared sources."""
    from .knowledge.build import DEFAULT_SOURCE, build_all

    source = args.source or DEFAULT_SOURCE
    for path in build_all(source):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


def cmd_feedback(args) -> int:
    """Export CDS Hooks feedback as NDJSON."""
    from .cds.service import export_feedback
    from .store import connect

    settings = load_settings()
    for entry in export_feedback(connect(settings.redis_url, settings.data_dir)):
        sys.stdout.write(json.dumps(entry, sort_keys=True) + "\n")
    return 0


def _screen_parser(sub) -> None:
    screen = sub.add_parser("screen", help="population screening on Spark: NDJSON files or a live Bulk export → worklist")
    screen.add_argument("inputs", nargs="*", help="Bulk export directories, NDJSON files of resources or of Bundles")
    screen.add_argument("--out", required=True, help="the worklist (NDJSON, most probable first)")
    screen.add_argument("--report", help="the HTML report (default: the worklist's name with .html)")
    screen.add_argument("--ehr", help="export from this registered EHR (its iss or name) through Backend Services")
    screen.add_argument("--group", help="the Group to export (with --ehr)")
    screen.add_argument("--since", help="auto (since the last export) or a FHIR instant; default: a full export")
    screen.add_argument("--workdir", help="where exports are kept (default: radar-export/ next to --out)")
    screen.add_argument("--iss", help="for files: the EHR they came from, so its charts show the flags")
    screen.add_argument("--master", help="Spark master (default RADAR_SPARK_MASTER, else local[*])")
    screen.add_argument("--partitions", type=int, help="patient partitions (default 4 per core, or 1 per 64 MiB of input)")
    screen.add_argument("--radar-top", type=int, default=0, help="queue RaDaR for the N most probable flagged patients")
    screen.add_argument("--actor", help="who runs the screen, for the audit trail (default: the OS user)")
    screen.add_argument("--no-progress", action="store_true", help="no progress bar")


def _learn_parser(sub) -> None:
    learn = sub.add_parser("learn-background", help="learn this site's general-population background from a Bulk export")
    learn.add_argument("inputs", nargs="*", help="Bulk export directories, NDJSON files of resources or of Bundles")
    learn.add_argument("--out", required=True, help="the background file to write (gzip JSON; set RADAR_BACKGROUND to it)")
    learn.add_argument("--name", default="site population", help="what the chart and the card call it")
    learn.add_argument("--min-count", type=int, default=11, help="drop terms seen in fewer records (default 11)")
    learn.add_argument("--min-records", type=int, default=100, help="refuse a smaller population (default 100)")
    learn.add_argument("--ehr", help="export from this registered EHR (its iss or name) through Backend Services")
    learn.add_argument("--group", help="the Group to export (with --ehr)")
    learn.add_argument("--since", help="auto: only what changed since the last export kept in --workdir")
    learn.add_argument("--workdir", help="where exports are kept (default: radar-export/ next to --out)")
    learn.add_argument("--master", help="Spark master (default RADAR_SPARK_MASTER, else local[*])")
    learn.add_argument("--partitions", type=int, help="patient partitions (default 4 per core, or 1 per 64 MiB of input)")
    learn.add_argument("--actor", help="who runs it, for the audit trail of a live export (default: the OS user)")


def cmd_learn_background(args) -> int:
    """Learn a site background (``app.screen.learn``); exit 1 when nothing was written."""
    from .screen.learn import learn_command

    if _without_spark("learn-background"):
        return 1
    return learn_command(args, load_settings(chart_secrets=False))


def cmd_screen(args) -> int:
    """Population screening (``app.screen.run``); exit 1 when the screen could not run."""
    from .screen.command import screen_command

    if _without_spark("screen"):
        return 1
    # The screen signs in as a backend client only: the chart's client secrets need not be here.
    return screen_command(args, load_settings(chart_secrets=False))


def _without_spark(command: str) -> bool:
    """Say so and return True when PySpark (the ``screen`` extra) is missing from this installation."""
    from .screen.spark import unavailable

    problem = unavailable()
    if problem:
        print(f"radar {command}: {problem}", file=sys.stderr)
    return problem is not None


COMMANDS = {"screen": cmd_screen, "learn-background": cmd_learn_background, "worker": cmd_worker,
            "worker-check": cmd_worker_check, "feedback": cmd_feedback, "rank": cmd_rank,
            "build-knowledge": cmd_build_knowledge, "check-config": cmd_check_config, "keys": cmd_keys,
            "audit": cmd_audit}

if __name__ == "__main__":
    sys.exit(main())
