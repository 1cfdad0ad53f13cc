"""`syncd service`: the systemd user unit and the launchd agent it writes, and how it drives
systemctl (a stand-in script on PATH records the calls)."""

from __future__ import annotations

import os
import plistlib
import shutil
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import Syncd

from syncd.service import (
    LAUNCHD_LABEL,
    UNIT_NAME,
    launchd_plist,
    manager,
    run_argv,
    systemd_unit,
)

ODD = "my conf 100%/$HOME\\x"  # spaces, a systemd specifier, a variable, a backslash


@pytest.fixture
def odd_config(tmp_path: Path) -> Path:
    folder = tmp_path / ODD
    folder.mkdir(parents=True)
    path = folder / "config.toml"
    path.write_text("")
    return path


def _exec_start_words(unit: str) -> list[str]:
    line = next(x for x in unit.splitlines() if x.startswith("ExecStart="))
    return line.removeprefix("ExecStart=").split('" "')


def test_systemd_unit_runs_syncd_with_the_absolute_config_path(odd_config: Path) -> None:
    argv = run_argv(odd_config)
    assert argv[-3:] == ["--config", str(odd_config.resolve()), "run"]
    assert Path(argv[0]).is_absolute()
    unit = systemd_unit(argv)
    assert "[Service]" in unit and "WantedBy=default.target" in unit
    words = _exec_start_words(unit)
    assert len(words) == len(argv)
    # Specifiers and variables are escaped: systemd would expand "%/" and "$HOME".
    assert "100%%" in words[-2] and "$$HOME" in words[-2] and "\\\\x" in words[-2]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path, odd_config: Path) -> None:
    unit = tmp_path / UNIT_NAME
    unit.write_text(systemd_unit(run_argv(odd_config)))
    # System mode: `--user` needs a running user manager, which CI containers lack.
    res = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    assert "syncd.service" not in res.stderr  # no warnings about our unit either
    broken = tmp_path / "broken.service"
    broken.write_text(unit.read_text().replace('ExecStart="', "ExecStart=relative/"))
    res = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True)
    assert res.returncode != 0  # the check itself can fail


def test_launchd_plist_is_valid_xml_with_the_right_keys(tmp_path: Path, odd_config: Path) -> None:
    data = launchd_plist(run_argv(odd_config), tmp_path / "Logs")
    root = ET.fromstring(data)  # well-formed XML
    assert root.tag == "plist"
    assert b"<!DOCTYPE plist PUBLIC" in data
    plist = plistlib.loads(data)
    assert plist["Label"] == LAUNCHD_LABEL
    assert plist["ProgramArguments"] == run_argv(odd_config)
    assert plist["ProgramArguments"][-3:] == ["--config", str(odd_config.resolve()), "run"]
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["StandardErrorPath"] == str(tmp_path / "Logs" / "syncd.log")
    assert isinstance(plist["ThrottleInterval"], int)


def fake_tool(bin_dir: Path, name: str) -> Path:
    """A stand-in for systemctl/launchctl that appends its arguments to calls.log."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{bin_dir}/calls.log"\necho active\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir / "calls.log"


def test_install_writes_the_unit_and_enables_it(
    syncd: Syncd, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    syncd.write_config()
    calls = fake_tool(tmp_path / "bin", "systemctl")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    out = syncd.run("service", "install", "--kind", "systemd").stdout
    unit = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user" / UNIT_NAME
    assert f"Wrote {unit}" in out and "Started" in out
    assert str(syncd.config_path.resolve()) in unit.read_text()
    assert calls.read_text().splitlines() == [
        "systemctl --user daemon-reload",
        f"systemctl --user enable --now {UNIT_NAME}",
    ]
    status = syncd.run("service", "status", "--kind", "systemd").stdout
    assert "installed" in status and "is-active syncd.service: active" in status
    assert "syncd run: not running" in status
    out = syncd.run("service", "uninstall", "--kind", "systemd").stdout
    assert not unit.exists() and "removed" in out
    assert f"systemctl --user disable --now {UNIT_NAME}" in calls.read_text()


def test_install_without_a_service_manager_says_how_to_start_it(
    syncd: Syncd, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    syncd.write_config()
    monkeypatch.setenv("HOME", str(tmp_path / "mac"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = syncd.run("service", "install", "--kind", "launchd").stdout
    plist = tmp_path / "mac" / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
    assert plistlib.loads(plist.read_bytes())["Label"] == LAUNCHD_LABEL
    assert "launchctl not found" in out and "launchctl bootstrap" in out


def test_install_refuses_a_broken_config(syncd: Syncd) -> None:
    syncd.config_path.write_text("[me\n")
    res = syncd.run("service", "install", "--no-start", expect=2)
    assert "TOML syntax error" in res.stderr
    assert not manager("systemd").path.exists()


def test_print_shows_the_unit_without_writing_it(syncd: Syncd) -> None:
    syncd.write_config()
    out = syncd.run("service", "install", "--kind", "systemd", "--print").stdout
    assert out.startswith("# Written by `syncd service install`")
    assert not manager("systemd").path.exists()


def scripted_systemctl(bin_dir: Path, is_active: int, disable: int) -> Path:
    """A systemctl whose `is-active` and `disable` exit with the given statuses."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "systemctl"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "systemctl $*" >> "{bin_dir}/calls.log"\n'
        'case "$2" in\n'
        f"  is-active) echo inactive; exit {is_active} ;;\n"
        f'  disable) echo "Failed to disable unit: Access denied" >&2; exit {disable} ;;\n'
        "esac\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir / "calls.log"


@pytest.mark.parametrize(
    ("tool", "said"),
    [
        (
            None,
            "nothing was stopped: systemctl not found here (if `syncd run` is still "
            "running, stop it yourself)",
        ),
        ((3, 0), "nothing was stopped: the service was not running"),
        (
            (0, 1),
            "could not stop the service: `systemctl --user disable --now syncd.service` "
            "failed (exit 1): Failed to disable unit: Access denied",
        ),
    ],
)
def test_uninstall_says_what_it_really_did(
    syncd: Syncd,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    tool: tuple[int, int] | None,
    said: str,
) -> None:
    syncd.write_config()
    syncd.run("service", "install", "--kind", "systemd", "--no-start")
    unit = manager("systemd").path
    if tool is None:
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    else:
        scripted_systemctl(tmp_path / "bin", *tool)
        monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    out = syncd.run("service", "uninstall", "--kind", "systemd").stdout
    assert out == f"Removed {unit}; {said}\n"
    assert not unit.exists()
    assert "Stopped" not in out
    again = syncd.run("service", "uninstall", "--kind", "systemd").stdout
    assert again.startswith(f"Nothing to remove: {unit} does not exist; ")
