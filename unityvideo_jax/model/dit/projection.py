"""`project(x, kernel)` = x @ kernel over the last axis, with a backward written out for XLA:CPU.

Derived by autodiff, the kernel's gradient is dot(x^T, g) and XLA:CPU materialises the transposed
cotangent g^T in a copy into which it fuses everything that produces g: the norm and residual
backward of the block, and with the layers unrolled, of every later block. That fusion recomputes
the chain in a transposed, cache-hostile order and was the single largest op of the demo's step
(benchmarks/profile_step.py; BENCHMARKS.md, "Speed"). Here the cotangent is materialised once
(an optimization barrier) and the kernel's gradient contracts the token axes of x and g directly.

The math is autodiff's (the same products, summed in the same axes), so outputs and gradients
agree to float rounding. Only XLA:CPU gets this rule: on TPU and GPU autodiff's backward is what
their compilers expect, and remat policies that save matmul outputs ("dots") see plain dots.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def project(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """x (..., I) @ kernel (I, O) -> (..., O), in the dtype of the operands."""
    if jax.default_backend() == "cpu":
        return _project_cpu(x, kernel)
    return jnp.einsum("...i,io->...o", x, kernel)


@jax.custom_vjp
def _project_cpu(x, kernel):
    return jnp.einsum("...i,io->...o", x, kernel)


def _forward(x, kernel):
    return _project_cpu(x, kernel), (x, kernel)


def _backward(saved, g):
    x, kernel = saved
    g = jax.lax.optimization_barrier(g)  # one materialised cotangent; nothing fuses into its transpose
    dx = jnp.einsum("...o,io->...i", g, kernel)
    rows = (-1, x.shape[-1]), (-1, g.shape[-1])
    # contract the token axes of both operands: (tokens, I) x (tokens, O) -> (I, O)
    dk = jax.lax.dot_general(x.reshape(rows[0]), g.reshape(rows[1]), (((0,), (0,)), ((), ())))
    return dx.astype(x.dtype), dk.astype(kernel.dtype)


_project_cpu.defvjp(_forward, _backward)
