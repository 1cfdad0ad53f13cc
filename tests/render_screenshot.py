"""Screenshot the digest that ``syncd demo`` makes, at desktop and phone widths.

Usage: python tests/render_screenshot.py [OUT_DIR]   (default: docs/)

Runs this checkout's ``syncd demo`` into a temporary folder, then opens its digest.html in
headless Chromium (Debian: ``apt-get install chromium``) with a fresh, empty profile and no
network features: once to measure the page's height at each width, once to screenshot the
whole page. Writes digest-desktop.png (1000 px wide) and digest-phone.png (390 px). The demo's
dates follow today's, so the pictures change with the day they are made.
"""

from __future__ import annotations

import html as html_escape
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = {"digest-desktop.png": 1000, "digest-phone.png": 390}
# The page is measured inside an iframe of the exact width: in --dump-dom mode Chromium does not
# honour a --window-size narrower than 500 px, in --screenshot mode it does.
PROBE = """<!doctype html><html><body>
<iframe id="f" style="width:{width}px;height:800px;border:0" srcdoc="{page}"></iframe>
<script>document.getElementById("f").addEventListener("load", function () {{
  const height = this.contentDocument.documentElement.scrollHeight;
  document.body.setAttribute("data-height", String(height));
}});</script></body></html>"""


def chromium(profile: str, *args: str) -> subprocess.CompletedProcess[str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )


def page_height(html: Path, width: int, profile: str) -> int:
    page = html_escape.escape(html.read_text(encoding="utf-8"), quote=True)
    probe = html.with_name(f"measure-{width}.html")
    probe.write_text(PROBE.format(width=width, page=page), encoding="utf-8")
    dom = chromium(profile, "--window-size=1200,800", "--dump-dom", probe.as_uri()).stdout
    found = re.search(r'data-height="(\d+)"', dom)
    if not found:
        raise SystemExit(f"could not measure {html} at {width}px")
    return int(found.group(1))


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as profile:
        demo = Path(tmp) / "demo"
        subprocess.run(
            [sys.executable, "-m", "syncd", "demo", "--out", str(demo)],
            cwd=ROOT,  # this checkout's syncd, whatever is installed
            check=True,
            capture_output=True,
        )
        html = demo / "digest.html"
        for name, width in WIDTHS.items():
            height = page_height(html, width, profile)
            out = out_dir / name
            chromium(
                profile, f"--window-size={width},{height}", f"--screenshot={out}", html.as_uri()
            )
            print(f"{out}: {width}x{height}, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
