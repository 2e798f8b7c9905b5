"""Sample OTA images (test-only signed) for the simulated bench, and their ``index.json``."""

from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent
