"""``python -m dev.synth --help``."""
from .generate import main

main()
