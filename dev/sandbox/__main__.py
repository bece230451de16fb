"""``python -m dev.sandbox --port 8001``: serve the sandbox EHR."""
from . import main

main()
