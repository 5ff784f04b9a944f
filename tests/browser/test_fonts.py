"""Chinese must render: without a CJK font Chromium draws every Han character as a box."""

from __future__ import annotations

import shutil
import subprocess


def test_cjk_font_is_installed() -> None:
    fc_list = shutil.which("fc-list")
    assert fc_list, "fc-list (fontconfig) is missing; it comes with Debian's chromium package"
    families = subprocess.run(
        [fc_list, ":lang=zh-cn", "family"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert families, (
        "No font covers Simplified Chinese: pages render as boxes. "
        "Install one: apt-get install -y fonts-noto-cjk (or fonts-wqy-microhei)."
    )
