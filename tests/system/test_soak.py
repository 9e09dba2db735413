"""The README's run command under load, briefly: ``scripts/soak.sh`` for 60 s.

Web, both workers and beat from ``scripts/run.sh`` with a heartbeat every second and two
threads writing through the API: no process exits, every heartbeat beat sent runs, every
acknowledged write is stored (docs/operations.md, "Soak test"; the full 10 minutes is run
by hand, ``SOAK_SECONDS=600 scripts/soak.sh``, and recorded there).

Runs once, in the SQLite pass: the run command is the embedded default.
"""

import os
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
        reason="runs once, in the SQLite pass: the run command is the embedded default",
    ),
]


def test_the_run_command_keeps_every_process_heartbeat_and_write_for_a_minute(tmp_path):
    env = {**os.environ, "SOAK_SECONDS": "60", "SOAK_VAR_DIR": str(tmp_path)}
    done = subprocess.run(
        ["scripts/soak.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-4000:] + (tmp_path / "soak-run.log").read_text()[-4000:]
    summary = next(line for line in report.splitlines() if line.startswith("soak: 60 s;"))
    assert "processes exited: 0;" in summary and "dead letters 0;" in summary, summary
    assert report.rstrip().endswith("soak: OK"), report[-2000:]
