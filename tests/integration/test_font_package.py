"""The display font's package, as dpkg lists it, is the one the set-up installs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from appliance.feedback import fonts
from tests.support.paths import REPO


def test_the_named_package_really_holds_the_font_and_both_installers_install_it():
    """Debian 12's fonts-dejavu-core has no condensed faces: the package named in
    the error must be the one whose file list has them, and the set-up must install it."""
    listed = subprocess.run(["dpkg-query", "-L", fonts.APT_PACKAGE], capture_output=True, text=True, check=True)
    files = {Path(line).name for line in listed.stdout.splitlines()}
    assert {fonts.REGULAR, fonts.BOLD} <= files
    for script in (REPO / "tests" / "dev.sh", REPO / "firmware" / "install.sh"):
        assert re.search(rf"\b{re.escape(fonts.APT_PACKAGE)}\b", script.read_text()), script
