"""unityvideo_jax: UnityVideo in JAX/Flax NNX.

    from unityvideo_jax import UnityDiT, get_config
    model = UnityDiT(get_config("tiny_paper").model, rngs=nnx.Rngs(0))
    v_rgb, v_aux = model(rgb, aux, t_rgb, t_aux, text, aux_text, modality)

The names below load on first use, so `from unityvideo_jax import modalities` stays light (no jax or flax).
Importing the package sets glibc's malloc so that XLA:CPU reuses its scratch memory between calls
(`unityvideo_jax.host_memory`; a no-op beside an accelerator, `UNITYVIDEO_HOST_MALLOC=default` opts out).
"""

import importlib

from unityvideo_jax import host_memory

host_memory.configure()

_LAZY = {"UnityDiT": "unityvideo_jax.model.dit.transformer", "get_config": "unityvideo_jax.config"}

__all__ = ["UnityDiT", "get_config"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'unityvideo_jax' has no attribute {name!r}")
