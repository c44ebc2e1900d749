"""Preemption: on SIGTERM (a spot VM's notice, `kill`, a scheduler), finish the step in flight, save
a checkpoint of it (with the data iterator) and end the run with exit code PREEMPTED_EXIT, which says
"preempted: run the same command again to resume".

One process: a SIGTERM handler sets a flag that the hook reads after each step. Several processes
(`jax.distributed`): every host must stop at the same step, so the hook asks JAX's preemption sync
point instead, which the coordination service raises on all hosts at one agreed step once any of them
got the notice (JAX watches SIGTERM itself there, and TPU VMs' maintenance events); it is Orbax's and
maxtext's mechanism.
"""

from __future__ import annotations

import signal
import threading

import jax

from unityvideo_jax.train.hooks import Hook, Run

PREEMPTED_EXIT = 75  # EX_TEMPFAIL: a temporary failure; rerun the same command (launch/README.md)

_requested = threading.Event()


def requested() -> bool:
    """Whether this process received SIGTERM since its preemption hook began."""
    return _requested.is_set()


def request() -> None:
    """What the SIGTERM handler does (tests and embedding programs may call it directly)."""
    _requested.set()


class PreemptionHook(Hook):
    """Stops the run after the step in flight once a preemption notice arrived; `run.preempted` says so."""

    def __init__(self):
        self.previous = None

    def begin(self, run: Run) -> None:
        _requested.clear()
        run.preempted = False
        # Several processes: JAX's preemption service owns SIGTERM; a handler here would replace its own.
        if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, lambda signum, frame: request())

    def wants_stop(self, run: Run, done: int) -> bool:
        notice = requested()
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            try:
                notice = multihost_utils.reached_preemption_sync_point(done)
            except RuntimeError:  # jax.distributed started without its preemption service: this host's flag
                pass
        if notice and done < run.end:
            run.preempted = True
            print(f"preempted: stopping after step {done} with a checkpoint; run the same command to resume")
        return notice

    def close(self, run: Run) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
            self.previous = None
