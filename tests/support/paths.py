"""Where the repository, the sample images and the reference screens are."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
SCREENS = REPO / "tests" / "screens"
