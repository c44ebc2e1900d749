"""What one compiled step costs on one chip: XLA's memory and FLOP analyses, and how they print.

Shared by the training and sampler plans (plan.py) and the VAE decode plan (vae_plan.py).
"""

from __future__ import annotations

import dataclasses
import re

import jax


@dataclasses.dataclass(frozen=True)
class StepCost:
    """One compiled step on one chip (or, when XLA refused it for lack of HBM, what it asked for)."""

    arguments: int
    outputs: int
    aliased: int  # outputs written over donated arguments
    temporaries: int
    code: int
    xla_flops: float
    refused: str = ""  # XLA's out-of-memory message: the step was not compiled

    @property
    def peak(self) -> int:
        return self.arguments + self.outputs - self.aliased + self.temporaries + self.code


def measure(compile_step, config, mesh) -> StepCost:
    """Compile and measure; a step XLA cannot fit in HBM is a plan too (it says how much it wanted)."""
    try:
        compiled = compile_step(config, mesh)
    except jax.errors.JaxRuntimeError as err:
        message = str(err)
        if "RESOURCE_EXHAUSTED" not in message:
            raise
        wanted = re.search(r"required for HLO temporaries \(([\d.]+)G\)", message)
        temporaries = int(float(wanted.group(1)) * 2**30) if wanted else 0
        return StepCost(0, 0, 0, temporaries, 0, 0.0, refused=message.splitlines()[0][:300])
    return cost_of(compiled)


def cost_of(compiled) -> StepCost:
    memory = compiled.memory_analysis()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return StepCost(
        arguments=int(memory.argument_size_in_bytes),
        outputs=int(memory.output_size_in_bytes),
        aliased=int(memory.alias_size_in_bytes),
        temporaries=int(memory.temp_size_in_bytes),
        code=int(memory.generated_code_size_in_bytes),
        xla_flops=float((cost or {}).get("flops", 0.0)),
    )


def gigabytes(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def flop_count(n: float) -> str:
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}FLOP"
    return f"{n:,.0f} FLOP"


def seconds(t: float) -> str:
    return f"{t:.2f} s" if t >= 0.1 else f"{t * 1e3:.2f} ms"


def stream_words(streams: int) -> str:
    """'two streams' (RGB + one aux, the release's model) or 'S streams: RGB + k aux'."""
    return "two streams" if streams == 2 else f"{streams} streams: RGB + {streams - 1} aux"
