"""A child pytest run in its own session, bounded in time, that leaves no lab behind: the
self-checks and `siteproof mutate` judge suites by running them this way."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from siteproof.backends.netns import registry


def sigint_restored() -> None:
    """preexec_fn of a child stopped by SIGINT: a shell that started this run in the background
    without job control ignores SIGINT, and the child would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


PLUGIN = ("-p", "siteproof.fixtures.plugin")  # pytest's option that loads siteproof's plugin by name


@dataclass
class ChildRun:
    stdout: str
    stderr: str
    timed_out: bool
    left_labs: list[str]  # labs the child still owned when it ended (destroyed here)
    returncode: int = 0


def run_child_pytest(args: list[str], cwd: Path, timeout: float, grace: float = 90.0,
                     prefix: tuple[str, ...] = ()) -> ChildRun:
    """Run a child pytest in its own session; whatever happens, nothing of it stays.

    Past `timeout` it gets SIGINT (pytest then tears its lab down), past `grace` more its
    whole process group SIGKILL. A lab the child still owns afterwards is destroyed and named:
    a run that leaves a lab behind is a defect, and a lab with nobody to run it must not load
    the machine for every test after it.
    """
    # prefix: how to start it elsewhere (`ip netns exec VANTAGE`, for a lab played as a site).
    # A run id of its own in the chain its labs are recorded under: its xdist workers' labs carry
    # it too, and labs that others build meanwhile never do.
    mine = secrets.token_hex(4)
    env = {**os.environ, registry.RUNS_ENV: ":".join(filter(None, [os.environ.get(registry.RUNS_ENV), mine]))}
    # The plugin by name: a suite folder outside the checkout does not reach its conftest.py.
    proc = subprocess.Popen([*prefix, sys.executable, "-m", "pytest", *PLUGIN, *args], cwd=cwd, text=True, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=sigint_restored)  # it is stopped by SIGINT past its timeout
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
    finally:
        if proc.poll() is None:  # the parent itself was interrupted
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        left = [state.id for state in registry.all_labs() if mine in state.runs or state.owner_pid == proc.pid]
        for lab_id in left:
            registry.destroy(lab_id)
    return ChildRun(out, err, timed_out, left, proc.returncode)
