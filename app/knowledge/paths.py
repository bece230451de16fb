"""Where the compiled knowledge files live (committed under ``app/knowledge/data``)."""
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
# The shared reference data `radar build-knowledge` compiles from (next to the repository).
DEFAULT_SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data"
