"""The glibc malloc setting: merged into an environment without clobbering, and a process really re-executes with it."""

from __future__ import annotations

import os
import subprocess
import sys

from vsr.engine.perf import MALLOC_TUNABLES, with_malloc_tunables, without_malloc_tunables

SCRIPT = ("import os; from vsr.engine.perf import reexec_with_malloc_tunables as r; r(); "
          "print(os.environ.get('GLIBC_TUNABLES', '-'), os.environ.get('OMP_WAIT_POLICY', '-'))")


def test_tunables_merge_with_the_users_own_and_come_off_again():
    env = with_malloc_tunables({"GLIBC_TUNABLES": "glibc.pthread.rseq=0", "X": "1"})
    assert env["GLIBC_TUNABLES"] == "glibc.pthread.rseq=0:" + MALLOC_TUNABLES and env["X"] == "1"
    assert env["OMP_WAIT_POLICY"] == "PASSIVE" and "OMP_WAIT_POLICY" not in without_malloc_tunables(env)
    assert with_malloc_tunables({"OMP_WAIT_POLICY": "ACTIVE"})["OMP_WAIT_POLICY"] == "ACTIVE"  # the user's own
    assert with_malloc_tunables(env)["GLIBC_TUNABLES"] == env["GLIBC_TUNABLES"]  # idempotent
    assert without_malloc_tunables(env)["GLIBC_TUNABLES"] == "glibc.pthread.rseq=0"
    assert "GLIBC_TUNABLES" not in without_malloc_tunables(with_malloc_tunables({}))


def _run(extra_env: dict) -> str:
    env = without_malloc_tunables(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    env |= extra_env
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_process_reexecutes_itself_with_the_setting_once():
    assert _run({}) == MALLOC_TUNABLES + " PASSIVE"


def test_reexec_can_be_turned_off():
    assert _run({"VSR_NO_MALLOC_TUNING": "1"}) == "- -"
