"""Render the sample digest to HTML and screenshot it at desktop and phone widths.

Usage: python tests/render_screenshot.py [OUT_DIR]   (default: docs/)
Needs Debian's chromium. Writes digest-desktop.png (1200px) and digest-phone.png (390px).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from digest_samples import sample_digest  # noqa: E402

from syncd.render import render_html  # noqa: E402

SIZES = {"digest-desktop.png": (1200, 1500), "digest-phone.png": (390, 2050)}


def screenshot(html: Path, out: Path, width: int, height: int) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--screenshot={out}",
                f"--window-size={width},{height}",
                html.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent / "docs"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "digest.html"
        html.write_text(render_html(sample_digest()), encoding="utf-8")
        for name, (width, height) in SIZES.items():
            screenshot(html, out_dir / name, width, height)
            print(out_dir / name, (out_dir / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
