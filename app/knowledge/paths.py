"""Where the compiled knowledge files live (committed under ``app/knowledge/data``)."""
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
