"""Where the compiled knowledge files live (committed under ``app/knowledge/data``)."""
import gzip
import json
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
# The shared reference data `radar build-knowledge` compiles from (next to the repository).
DEFAULT_SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data"


def write_gz(path, payload: bytes) -> Path:
    """Write ``payload`` gzipped to ``path`` with fixed bytes (gzip mtime 0, no file name), so the same
    sources give the same committed file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as fh:
        fh.write(payload)
    return path


def write_json_gz(data, path) -> Path:
    """``data`` as compact JSON (sorted keys, UTF-8 kept) through :func:`write_gz`."""
    return write_gz(path, json.dumps(data, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode())
