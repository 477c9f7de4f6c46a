"""Pilots: loading pilot files (TOML), validating them, storing them, and their hook contexts."""

from perlinsos.pilots.files import PilotSpec, PilotFileError, load_pilot_file, parse_pilot
from perlinsos.pilots.store import (
    get_pilot,
    list_pilots,
    pilot_context,
    save_pilot,
)

__all__ = [
    "PilotFileError",
    "PilotSpec",
    "get_pilot",
    "list_pilots",
    "load_pilot_file",
    "parse_pilot",
    "pilot_context",
    "save_pilot",
]
