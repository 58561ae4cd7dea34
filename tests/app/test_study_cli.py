"""``labqueue study ...`` through real subprocesses."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120

SPEC = """
[study]
name = "cli"
workspace = "ws"
[study.samples]
field = [1, 2, 3]

[steps.measure]
python = "tests.core.studies.lab_steps:measure"
parameters = { field = "{field}", n = 2 }

[steps.record]
command = "python -c \\"open('v.txt', 'w').write('{field}')\\""
depends = ["measure"]
"""


def labqueue(*args: str, fail_field: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("LAB_STEPS_FAIL_FIELD", None)
    if fail_field is not None:
        env["LAB_STEPS_FAIL_FIELD"] = fail_field
    return subprocess.run(
        [sys.executable, "-m", "labqueue", "study", *args], capture_output=True, text=True, env=env, timeout=TIMEOUT
    )


def test_run_status_restart_and_cancel(tmp_path):
    spec = tmp_path / "study.toml"
    spec.write_text(SPEC)
    data = ["--data-dir", str(tmp_path / "lab")]

    ran = labqueue("run", str(spec), *data, fail_field="2")
    assert ran.returncode == 1, ran.stderr
    assert "OSError: no signal at field 2" in ran.stdout

    status = labqueue("status", "cli", "--json", *data)
    assert status.returncode == 0, status.stderr
    (study,) = json.loads(status.stdout)
    steps = {step["step"]: step for step in study["steps"]}
    assert steps["measure"]["counts"] == {"finished": 2, "failed": 1}
    assert steps["record"]["counts"] == {"finished": 2, "cancelled": 1}
    failed_run = str(tmp_path / "ws" / "measure" / "1")
    assert steps["measure"]["failed"] == [
        {"run_dir": failed_run, "status": "failed", "reason": "OSError: no signal at field 2"}
    ]
    assert study["status"] == "incomplete"

    as_csv = labqueue("status", "--csv", *data)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    counts = {(row["step"], row["status"]): row["count"] for row in rows if row["count"]}
    assert counts[("measure", "failed")] == "1" and counts[("record", "cancelled")] == "1"
    failed = {(row["step"], row["run_dir"]): (row["status"], row["reason"]) for row in rows if not row["count"]}
    assert failed[("measure", failed_run)] == ("failed", "OSError: no signal at field 2")
    assert failed[("record", str(tmp_path / "ws" / "record" / "1"))][0] == "cancelled"

    restarted = labqueue("restart", str(tmp_path / "ws"), *data)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "measure          3 finished" in restarted.stdout
    assert (tmp_path / "ws" / "record" / "1" / "v.txt").read_text() == "2"

    cancelled = labqueue("cancel", "cli", *data)
    assert cancelled.returncode == 0
    assert "0 queued run(s) cancelled" in cancelled.stdout


def test_errors_are_clear_and_old_flags_still_work(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('[steps.a]\ncommand = "true"\ndepends = ["b"]\n')
    bad = labqueue("run", str(spec), "--data-dir", str(tmp_path / "lab"))
    assert bad.returncode == 2
    assert f"{spec}:3: b: unknown step in a.depends" in bad.stderr

    not_a_study = labqueue("restart", str(tmp_path), "--data-dir", str(tmp_path / "lab"))
    assert not_a_study.returncode == 2
    assert "is not the workspace of a study" in not_a_study.stderr

    version = subprocess.run([sys.executable, "-m", "labqueue", "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("labqueue ")


def test_python_steps_beside_the_spec_are_found_as_python_finds_a_scripts_modules(tmp_path):
    lab = tmp_path / "campaign"
    lab.mkdir()
    (lab / "my_lab_steps.py").write_text("def calibrate(gain):\n    return 2 * gain\n")
    (lab / "study.toml").write_text(
        '[study]\nname = "beside"\nworkspace = "ws"\n\n'
        '[steps.calibrate]\npython = "my_lab_steps:calibrate"\nparameters = { gain = 21 }\nforeach = false\n'
    )
    ran = labqueue("run", str(lab / "study.toml"), "--data-dir", str(tmp_path / "lab"))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "calibrate        1 finished" in ran.stdout

    (lab / "broken.toml").write_text('[steps.a]\npython = "not_beside_anything:f"\n')
    bad = labqueue("run", str(lab / "broken.toml"), "--data-dir", str(tmp_path / "lab"))
    assert bad.returncode == 2 and "cannot import not_beside_anything" in bad.stderr
