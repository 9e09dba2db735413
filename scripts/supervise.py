"""Run every process of a Procfile and keep each one running: the run command's supervisor.

``python scripts/supervise.py [Procfile]``. Each output line is prefixed with its process
(``web.1 |``). A process that exits is started again after a pause (1 s, doubling up to
30 s while it keeps failing within a minute), and the reason is printed on a ``system |``
line: its exit code or signal, and when it restarts. One process never takes the others
down. Ctrl-C (or SIGTERM) stops them all: SIGTERM to each process group, SIGKILL after
``STOP_GRACE`` seconds, and says so.

Why not honcho (used before): when one process exits honcho stops all the others, so a
worker that died took web and beat with it. Why not supervisord: it needs a configuration
file and a control socket, and it does not prefix the output lines of its programs, which
is how the run command shows who said what. This is the small loop the run command needs;
production runs each Procfile line as its own service with the service manager's restart
policy (docs/operations.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

RESTART_FIRST = 1.0  # seconds before the first restart
RESTART_MAX = 30.0  # the pause doubles up to this while a process keeps failing
HEALTHY_AFTER = 60.0  # a process that ran this long starts again after RESTART_FIRST
STOP_GRACE = 20.0  # seconds between SIGTERM and SIGKILL at Ctrl-C

PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


def read_procfile(path: Path) -> list[tuple[str, str]]:
    entries = []
    for line in path.read_text().splitlines():
        found = PROCFILE_LINE.match(line.strip())
        if found and not line.lstrip().startswith("#"):
            entries.append((found[1], found[2]))
    if not entries:
        raise SystemExit(f"{path}: 没有进程 / no processes")
    return entries


class Output:
    """Lines of every process, prefixed and never interleaved mid-line."""

    def __init__(self, names: list[str]):
        self.width = max(len(n) for n in [*names, "system"])
        self.lock = threading.Lock()

    def line(self, name: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with self.lock, contextlib.suppress(OSError):  # a closed terminal stops no process
            sys.stdout.write(f"{stamp} {name:<{self.width}} | {text}\n")
            sys.stdout.flush()

    def system(self, text: str) -> None:
        self.line("system", text)


def describe(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"被信号 {name} 终止 / killed by {name}"
    return f"退出码 {returncode} / exit code {returncode}"


class Child:
    def __init__(self, name: str, command: str, output: Output):
        self.name, self.command, self.output = name, command, output
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.pause = RESTART_FIRST
        self.restart_at: float | None = None
        self.restarts = 0

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # Its own session and process group: signals go to the whole group (the shell, the
        # command and its children), and a terminal's Ctrl-C reaches only this supervisor.
        # A simple command replaces the shell (exec): its pid is the process itself.
        simple = not re.search(r"[;&|()\n]|\b(while|for|if|case)\b", self.command)
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {self.command}" if simple else self.command],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env,
        )  # fmt: skip
        self.started = time.monotonic()
        self.restart_at = None
        threading.Thread(target=self._copy, args=(self.proc,), daemon=True).start()
        self.output.system(f"{self.name} 已启动 / started (pid {self.proc.pid})")

    def _copy(self, proc: subprocess.Popen) -> None:
        for raw in proc.stdout:
            self.output.line(self.name, raw.decode(errors="replace").rstrip("\n"))

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def check(self, now: float) -> None:
        """Notice an exit (say why, plan the restart) or restart when the pause is over."""
        if self.running():
            return
        if self.restart_at is None:
            self.signal_group(signal.SIGKILL)  # what it left behind (e.g. pool children)
            ran = now - self.started
            failing = self.restarts and ran < HEALTHY_AFTER
            self.pause = min(self.pause * 2, RESTART_MAX) if failing else RESTART_FIRST
            self.restarts += 1
            self.restart_at = now + self.pause
            self.output.system(
                f"{self.name} 已退出（{describe(self.proc.returncode)}，运行 {ran:.0f} 秒），"
                f"{self.pause:.0f} 秒后重启（第 {self.restarts} 次） / {self.name} exited; "
                f"restarting in {self.pause:.0f} s (restart {self.restarts})"
            )
        elif now >= self.restart_at:
            self.start()


def main(argv: list[str]) -> int:
    procfile = Path(argv[1] if len(argv) > 1 else "Procfile")
    entries = read_procfile(procfile)
    output = Output([f"{name}.1" for name, _ in entries])
    children = [Child(f"{name}.1", command, output) for name, command in entries]
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum, _frame):
        received.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for child in children:
        child.start()
    while not stop.is_set():
        now = time.monotonic()
        for child in children:
            child.check(now)
        stop.wait(0.5)

    output.system(f"收到 {received[0]}，正在停止全部进程 / stopping every process")
    for child in children:
        if child.running():
            child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while any(c.running() for c in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    for child in children:
        if child.running():
            output.system(f"{child.name} 未在 {STOP_GRACE:.0f} 秒内停止，强制结束 / killed")
        child.signal_group(signal.SIGKILL)  # the group, leftovers included
        if child.proc is not None:
            child.proc.wait()
    output.system("已全部停止 / all stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
