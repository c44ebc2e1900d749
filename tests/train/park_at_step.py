"""`python park_at_step.py [--until-sigterm] STEP MARKER train --config ...`: the train CLI, except that
when the run asks for batch STEP it writes STEP to the file MARKER and waits there to be killed (or,
with --until-sigterm, until the run's SIGTERM handler has seen a preemption notice; then it goes on).

The kill test uses it to kill a run at a step chosen in advance instead of at whatever step a poll
happens to see: the steps before STEP are done (or dispatched) and traced, the ones after never start.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from unityvideo_jax import cli
from unityvideo_jax.data.input import iterator as input_iterator
from unityvideo_jax.train import preemption


class ParkAt:
    """This host's batch iterator, which stops for good before handing out batch `step`."""

    def __init__(self, inner, step: int, marker: str, until_sigterm: bool = False):
        self.inner, self.step, self.marker, self.drawn = inner, step, marker, 0
        self.until_sigterm = until_sigterm

    def __iter__(self):
        return self

    def __next__(self):
        if self.drawn == self.step:
            tmp = self.marker + ".tmp"
            with open(tmp, "w") as f:
                f.write(str(self.step))
            os.replace(tmp, self.marker)  # whole or absent: the test never reads half a marker
            if not self.until_sigterm:
                threading.Event().wait()  # until SIGKILL
            while not preemption.requested():
                time.sleep(0.01)  # the handler runs between these sleeps
        self.drawn += 1
        return next(self.inner)

    def get_state(self):
        return self.inner.get_state()

    def set_state(self, state):
        # a restored iterator would start past batch 0 and `drawn` would no longer be the step
        raise RuntimeError("park_at_step runs only start fresh: give it an empty workdir")


def main(argv: list[str]) -> int:
    until_sigterm = argv[0] == "--until-sigterm"
    argv = argv[1:] if until_sigterm else argv
    step, marker, rest = int(argv[0]), argv[1], argv[2:]
    make = input_iterator.make_iterator
    # the CLI imports make_iterator when it trains, so the module attribute is what it gets
    input_iterator.make_iterator = lambda *a, **kw: ParkAt(make(*a, **kw), step, marker, until_sigterm)
    return cli.main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
