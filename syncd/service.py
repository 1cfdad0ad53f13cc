"""``syncd service install|uninstall|status``: run ``syncd run`` in the background.

Linux: a systemd *user* unit (``~/.config/systemd/user/syncd.service``), enabled with
``systemctl --user enable --now``. macOS: a launchd agent (``~/Library/LaunchAgents/
org.syncd.agent.plist``), loaded with ``launchctl bootstrap gui/UID``. Both run
``syncd --config <absolute path> run``, so the service reads the same config as the shell.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from syncd.errors import UserError

UNIT_NAME = "syncd.service"
LAUNCHD_LABEL = "org.syncd.agent"
KINDS = ("systemd", "launchd")


def default_kind() -> str:
    return "launchd" if sys.platform == "darwin" else "systemd"


def syncd_command() -> list[str]:
    """The argv that starts this very installation of syncd (absolute paths)."""
    beside = Path(sys.executable).parent / "syncd"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("syncd")
    if found:
        return [str(Path(found).resolve())]
    # No console script (e.g. a bare checkout): the interpreter runs the CLI module.
    return [sys.executable, "-c", "from syncd.cli import main; main()"]


def run_argv(config_path: Path) -> list[str]:
    return [*syncd_command(), "--config", str(config_path.resolve()), "run"]


# ------------------------------------------------------------------------------ systemd
def _systemd_quote(arg: str) -> str:
    """One ExecStart word: double-quoted, with systemd's specifiers and variables escaped."""
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def systemd_unit(argv: Sequence[str]) -> str:
    exec_start = " ".join(_systemd_quote(a) for a in argv)
    return f"""\
# Written by `syncd service install`; remove with `syncd service uninstall`.
[Unit]
Description=syncd: sync mail and calendar metadata, send the weekly keep-in-touch digest

[Service]
Type=simple
ExecStart={exec_start}
ExecReload=/bin/kill -HUP $MAINPID
# syncd stops after the current batch on SIGTERM; give a slow server time to answer.
TimeoutStopSec=60
Restart=on-failure
RestartSec=60
Environment=PYTHONUNBUFFERED=1
NoNewPrivileges=yes
UMask=0077

[Install]
WantedBy=default.target
"""


def systemd_unit_path(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    base = Path(env.get("XDG_CONFIG_HOME") or Path(env.get("HOME", "~")) / ".config")
    return base.expanduser() / "systemd" / "user" / UNIT_NAME


# ------------------------------------------------------------------------------ launchd
def launchd_plist(argv: Sequence[str], log_dir: Path) -> bytes:
    return plistlib.dumps(
        {
            "Label": LAUNCHD_LABEL,
            "ProgramArguments": list(argv),
            "RunAtLoad": True,
            # Restart after a crash, not after a clean stop (e.g. `launchctl bootout`).
            "KeepAlive": {"SuccessfulExit": False},
            "ThrottleInterval": 60,
            "ProcessType": "Background",
            "Umask": 0o077,
            "EnvironmentVariables": {"PYTHONUNBUFFERED": "1"},
            "StandardOutPath": str(log_dir / "syncd.log"),
            "StandardErrorPath": str(log_dir / "syncd.log"),
        },
        fmt=plistlib.FMT_XML,
    )


def launchd_paths(env: dict[str, str] | None = None) -> tuple[Path, Path]:
    env = dict(os.environ) if env is None else env
    home = Path(env.get("HOME", "~")).expanduser()
    return home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist", home / "Library" / "Logs"


# ------------------------------------------------------------------------------ actions
Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class _Stop:
    stopped: bool  # the manager stopped a running service
    detail: str  # why not, when it did not


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return subprocess.CompletedProcess(list(argv), 127, "", str(e))


@dataclass
class ServiceManager:
    kind: str
    env: dict[str, str]
    run: Runner = _run

    @property
    def path(self) -> Path:
        return systemd_unit_path(self.env) if self.kind == "systemd" else launchd_paths(self.env)[0]

    def render(self, config_path: Path) -> str:
        argv = run_argv(config_path)
        if self.kind == "systemd":
            return systemd_unit(argv)
        return launchd_plist(argv, launchd_paths(self.env)[1]).decode()

    def _tool(self, name: str) -> bool:
        return shutil.which(name, path=self.env.get("PATH")) is not None

    def install(self, config_path: Path, start: bool, echo: Callable[[str], None]) -> None:
        text = self.render(config_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.kind == "launchd":
            launchd_paths(self.env)[1].mkdir(parents=True, exist_ok=True)
        self.path.write_text(text)
        echo(f"Wrote {self.path} (runs: {' '.join(run_argv(config_path))})")
        if not start:
            echo(f"Not started. Start it with: {self.start_hint()}")
            return
        steps = self._start_steps()
        if steps is None:
            echo(f"{self._manager()} not found here; start it yourself: {self.start_hint()}")
            return
        for argv in steps:
            res = self.run(argv)
            if res.returncode != 0:
                raise UserError(
                    f"`{' '.join(argv)}` failed ({res.returncode}): "
                    f"{(res.stderr or res.stdout).strip()}; the file is in place, start it with: "
                    f"{self.start_hint()}"
                )
        echo(f"Started. Logs: {self.logs_hint()}")
        if self.kind == "systemd":
            echo("To keep it running while you are logged out: loginctl enable-linger $USER")

    def _manager(self) -> str:
        return "systemctl" if self.kind == "systemd" else "launchctl"

    def _start_steps(self) -> list[list[str]] | None:
        if not self._tool(self._manager()):
            return None
        if self.kind == "systemd":
            return [
                ["systemctl", "--user", "daemon-reload"],
                ["systemctl", "--user", "enable", "--now", UNIT_NAME],
            ]
        domain = f"gui/{os.getuid()}"
        return [["launchctl", "bootstrap", domain, str(self.path)]]

    def start_hint(self) -> str:
        if self.kind == "systemd":
            return f"systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}"
        return f"launchctl bootstrap gui/$(id -u) {self.path}"

    def logs_hint(self) -> str:
        if self.kind == "systemd":
            return f"journalctl --user -u {UNIT_NAME} -f"
        return str(launchd_paths(self.env)[1] / "syncd.log")

    def uninstall(self, echo: Callable[[str], None]) -> None:
        """Stop and disable the service, remove its file, and say which of these happened."""
        stop = self._stop()
        if self.path.exists():
            self.path.unlink()
            if self.kind == "systemd" and self._tool("systemctl"):
                self.run(["systemctl", "--user", "daemon-reload"])
            if stop.stopped:
                echo(f"Stopped and removed {self.path}")
            else:
                echo(f"Removed {self.path}; {stop.detail}")
        elif stop.stopped:
            echo(f"Stopped the service; its file {self.path} was already gone")
        else:
            echo(f"Nothing to remove: {self.path} does not exist; {stop.detail}")

    def _stop(self) -> _Stop:
        """Ask the service manager to stop and disable the service, if there is one."""
        manager = self._manager()
        res: subprocess.CompletedProcess[str] | None
        if not self._tool(manager):
            return _Stop(
                False,
                f"nothing was stopped: {manager} not found here (if `syncd run` is still "
                "running, stop it yourself)",
            )
        if self.kind == "systemd":
            active = self.run(["systemctl", "--user", "is-active", UNIT_NAME])
            argv = ["systemctl", "--user", "disable", "--now", UNIT_NAME]
            res = self.run(argv)
            running = active.returncode == 0
        else:
            target = f"gui/{os.getuid()}/{LAUNCHD_LABEL}"
            running = self.run(["launchctl", "print", target]).returncode == 0
            argv = ["launchctl", "bootout", target]
            res = self.run(argv) if running else None
        if res is not None and res.returncode != 0:
            why = (res.stderr or res.stdout).strip() or "no message"
            return _Stop(
                False,
                f"could not stop the service: `{' '.join(argv)}` failed "
                f"(exit {res.returncode}): {why}",
            )
        if not running:
            return _Stop(False, "nothing was stopped: the service was not running")
        return _Stop(True, "")

    def status(self) -> list[str]:
        lines = [
            f"{self.kind}: {self.path} " + ("installed" if self.path.exists() else "not installed")
        ]
        if not self._tool(self._manager()):
            return [*lines, f"{self._manager()} not found: cannot ask the service manager"]
        if self.kind == "systemd":
            res = self.run(["systemctl", "--user", "is-active", UNIT_NAME])
            state = (res.stdout or res.stderr).strip() or f"exit {res.returncode}"
            lines.append(f"systemctl --user is-active {UNIT_NAME}: {state}")
        else:
            res = self.run(["launchctl", "print", f"gui/{os.getuid()}/{LAUNCHD_LABEL}"])
            loaded = res.returncode == 0
            lines.append(f"launchd: {'loaded' if loaded else 'not loaded'}")
        return lines


def manager(kind: str | None = None, env: dict[str, str] | None = None) -> ServiceManager:
    k = kind or default_kind()
    if k not in KINDS:
        raise UserError(f"service kind must be one of {', '.join(KINDS)}, got {k!r}")
    return ServiceManager(k, dict(os.environ) if env is None else env)
