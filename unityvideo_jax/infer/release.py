"""The published UnityVideo in one call: its release checkpoint and a Wan2.2-TI2V-5B base folder.

    pipe = Pipeline.from_release("unityvideo_wan22_ti2v_5b_step15000_ema.safetensors", "Wan2.2-TI2V-5B")
    out = pipe.run("joint", "depth", prompt="a person walks on a beach")

The base folder is told apart by its files: the original Wan folder the authors' scripts read
(`Wan2.2_VAE.pth`, `models_t5_umt5-xxl-enc-bf16.pth`, `google/umt5-xxl/`) or the diffusers one
(`vae/`, `text_encoder/`, `tokenizer/`, as in Wan-AI/Wan2.2-TI2V-5B-Diffusers). Either argument may
be a Hugging Face repo id instead of a path (KlingTeam/UnityVideo, Wan-AI/Wan2.2-TI2V-5B[-Diffusers]):
with the [hub] extra only the needed files are downloaded; offline, the error says what to download.
The base's own DiT weights are not read: the release checkpoint holds the whole UnityVideo transformer.
Every file is read once: the text encoder (cached for the pipeline's prompts), the VAE, then the DiT.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

import ml_collections

from unityvideo_jax.config import get_config, with_defaults
from unityvideo_jax.model.text.encoders import WAN_T5_FILE, WAN_T5_TOKENIZER

RELEASE_CONFIG = "wan22_ti2v_5b_release"
RELEASE_FILE = "unityvideo_wan22_ti2v_5b_step15000_ema.safetensors"  # in KlingTeam/UnityVideo
LAYOUTS = {  # what each base layout must hold, by part
    "original": {"VAE": "Wan2.2_VAE.pth", "text encoder": WAN_T5_FILE, "tokenizer": WAN_T5_TOKENIZER},
    "diffusers": {"VAE": "vae", "text encoder": "text_encoder", "tokenizer": "tokenizer"},
}


@dataclasses.dataclass(frozen=True)
class BaseFolder:
    layout: str  # "original" or "diffusers"
    root: Path

    @property
    def vae(self) -> Path:
        return self.root / LAYOUTS[self.layout]["VAE"]


def _describe(layout: str) -> str:
    return f"{layout} ({', '.join(LAYOUTS[layout].values())})"


def _repo_id(source) -> bool:
    return bool(re.fullmatch(r"[\w.-]+/[\w.-]+", str(source))) and not Path(str(source)).expanduser().exists()


def _download(source: str, what: str, **files) -> Path:
    """`source` from the Hugging Face Hub (huggingface_hub, the [hub] extra): only `files`."""
    wanted = files.get("filename") or ", ".join(files.get("allow_patterns", []))
    try:
        import huggingface_hub
    except ImportError:
        raise FileNotFoundError(f"{what} {source} is not a local path; to download it from the Hugging Face Hub install "
                                f"the hub extra (pip install -e .[hub]), or download {wanted} of {source} yourself and "
                                "pass the local path") from None
    try:
        if "filename" in files:
            return Path(huggingface_hub.hf_hub_download(source, files["filename"]))
        return Path(huggingface_hub.snapshot_download(source, allow_patterns=files["allow_patterns"]))
    except Exception as err:  # noqa: BLE001  offline, unknown repo, no access: one message with the fix
        raise FileNotFoundError(f"cannot download {what} {source} from the Hugging Face Hub ({type(err).__name__}: "
                                f"{str(err).splitlines()[0][:200] if str(err) else ''}); connect to the internet (and log "
                                f"in if the repository asks), or download {wanted} yourself and pass the local path") from None


def fetch_release(checkpoint) -> Path:
    """The release checkpoint: a local file, or a Hub repo id (default file name) downloaded."""
    if _repo_id(checkpoint):
        return _download(str(checkpoint), "release checkpoint", filename=RELEASE_FILE)
    return Path(checkpoint).expanduser()


def fetch_base(base) -> Path:
    """The Wan base folder: a local folder, or a Hub repo id of which only the VAE, the text encoder and
    the tokenizer are downloaded (the base's own DiT is not needed)."""
    if not _repo_id(base):
        return Path(base).expanduser()
    layout = "diffusers" if str(base).lower().endswith("-diffusers") else "original"
    patterns = [name if name.endswith(".pth") else f"{name}/*" for name in LAYOUTS[layout].values()]
    return _download(str(base), f"Wan base ({layout} layout)", allow_patterns=patterns)


def base_folder(base) -> BaseFolder:
    """The layout of the Wan base folder `base`, or FileNotFoundError naming what is missing."""
    root = Path(base).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"base {root} is not a folder: pass the Wan2.2-TI2V-5B folder, in the "
                                f"{_describe('original')} or the {_describe('diffusers')} layout")
    found = {layout: [part for part, name in parts.items() if (root / name).exists()] for layout, parts in LAYOUTS.items()}
    layout = max(LAYOUTS, key=lambda name: len(found[name]))
    if not found[layout]:
        raise FileNotFoundError(f"base {root} holds neither layout of a Wan folder: expected the "
                                f"{_describe('original')} or the {_describe('diffusers')} layout")
    missing = [f"{part} ({root / LAYOUTS[layout][part]})" for part in LAYOUTS[layout] if part not in found[layout]]
    if missing:
        raise FileNotFoundError(f"base {root} is a Wan folder of the {layout} layout but lacks its "
                                f"{', '.join(missing)}: download the whole base model")
    return BaseFolder(layout, root)


def release_config(base: BaseFolder, config=None) -> ml_collections.ConfigDict:
    """`config` (a name, a file or a ConfigDict; default the 5B release's) reading its VAE and text
    encoder from `base`."""
    config = get_config(config or RELEASE_CONFIG) if not isinstance(config, ml_collections.ConfigDict) else config
    config = with_defaults(ml_collections.ConfigDict(config.to_dict()))
    config.data.vae_weights = str(base.vae)
    config.data.text_encoder_weights = str(base.root)
    return config


def load_release(checkpoint, base, config=None, dtype: str | None = "bfloat16", stage_weights="auto",
                 text_on: str = "chip"):
    """(config, latent space, DiT parameters, whether the weights are staged) of the release `checkpoint`
    on the Wan `base` folder. The DiT's and umT5's parameters are kept in `dtype` (default bf16, as
    published: 10 GB and 11.4 GB for the 5B release; None: the config's fp32). `stage_weights`: True
    keeps the text encoder's, the VAE's and the DiT's weights in host memory and places each on the chip
    only for its own calls (weights/host_weights.py); "auto" does so where the text encoder and the DiT
    do not fit the device together. `text_on` "cpu" runs the text encoder on the host's CPU instead
    (slow, but the chip then only ever holds the DiT and the VAE)."""
    import jax
    from flax import nnx

    from unityvideo_jax.convert.torch_checkpoint import abstract_model, load_torch_checkpoint
    from unityvideo_jax.model.vae.latent_space import latent_space_of
    from unityvideo_jax.train.constants import text_encoder
    from unityvideo_jax.weights.host_weights import HostWeights, fits_together

    folder = base_folder(fetch_base(base))
    checkpoint = fetch_release(checkpoint)
    if not Path(checkpoint).exists():
        raise FileNotFoundError(f"release checkpoint {checkpoint} not found: pass the published .safetensors file")
    config = release_config(folder, config)
    config.data.text_encoder_param_dtype = dtype or ""
    encoder = text_encoder(config)  # read once; the pipeline's prompts reuse it
    abstract = nnx.to_pure_dict(nnx.state(abstract_model(config), nnx.Param))
    width = jax.numpy.dtype(dtype).itemsize if dtype else 4
    dit_bytes = sum(x.size * width for x in jax.tree.leaves(abstract))
    if text_on not in ("chip", "cpu"):
        raise ValueError(f"text_on={text_on!r}: expected 'chip' or 'cpu'")
    if text_on == "cpu":  # kept in host memory and run there: never on the chip
        encoder.offload(functools.partial(HostWeights, device=jax.devices("cpu")[0]))
    if stage_weights == "auto":
        stage_weights = text_on == "chip" and not fits_together(encoder.weight_bytes, dit_bytes)
    shardings = None
    if stage_weights:  # every stage alone on the chip: text encoder, VAE, DiT each placed for its calls only
        if text_on == "chip":
            encoder.offload(HostWeights)  # off the chip before the DiT's weights arrive
        host = jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0])
        shardings = jax.tree.map(lambda _: host, abstract)
    latents = latent_space_of(config.data, staged=bool(stage_weights))
    model = load_torch_checkpoint(checkpoint, config, format="release", dtype=dtype, shardings=shardings)
    return config, latents, nnx.to_pure_dict(nnx.state(model, nnx.Param)), bool(stage_weights)
