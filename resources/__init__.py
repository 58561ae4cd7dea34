"""Icons, the application icon and the desktop entry, shipped with the program."""

from pathlib import Path

RESOURCE_DIR = Path(__file__).resolve().parent


def resource_path(name: str) -> Path:
    """Path of a bundled resource file; FileNotFoundError if it is not there."""
    path = RESOURCE_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"labqueue resource {name!r} is missing from {RESOURCE_DIR}")
    return path
