"""unityvideo_jax: UnityVideo in JAX/Flax NNX.

    from unityvideo_jax import UnityDiT, get_config
    model = UnityDiT(get_config("tiny").model, rngs=nnx.Rngs(0))
    v_rgb, v_aux = model(rgb, aux, t_rgb, t_aux, text, aux_text, modality)
"""

from unityvideo_jax.config import get_config
from unityvideo_jax.model.dit import UnityDiT

__all__ = ["UnityDiT", "get_config"]
__version__ = "0.1.0"
