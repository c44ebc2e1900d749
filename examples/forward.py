"""The smallest end-to-end run: build the tiny two-stream model and run all three task masks."""

import jax.numpy as jnp
import numpy as np
from flax import nnx

from unityvideo_jax import UnityDiT, get_config, modalities

config = get_config("tiny_paper")
model = UnityDiT(config.model, rngs=nnx.Rngs(0))
rng = np.random.default_rng(0)
shape = (1, 5, 16, 16, config.model.in_channels)
rgb, aux = (jnp.asarray(rng.standard_normal(shape), jnp.float32) for _ in range(2))
text = jnp.asarray(rng.standard_normal((1, 8, config.model.text_dim)), jnp.float32)
depth = jnp.array([modalities.index("depth")], jnp.int32)
for task, (t_rgb, t_aux) in {"joint": (0.7, 0.7), "estimate": (0.0, 0.7), "condition": (0.7, 0.0)}.items():
    v_rgb, v_aux = model(rgb, aux, jnp.array([t_rgb]), jnp.array([t_aux]), text, text, depth)
    print(f"{task:<9} v_rgb {tuple(v_rgb.shape)} |v|={float(jnp.abs(v_rgb).mean()):.3f}  "
          f"v_aux {tuple(v_aux.shape)} |v|={float(jnp.abs(v_aux).mean()):.3f}")
