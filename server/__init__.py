"""Vigil: where the vigils are, who to call, and your rights."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
__version__ = "0.1.0"
