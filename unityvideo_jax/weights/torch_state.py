"""A PyTorch pickle state dict (`*.pth`, as the original Wan folders ship their VAE and umT5) read like
a safetensors file: names, shapes and numpy views, one tensor at a time.

`torch.load(mmap=True, weights_only=True)` maps the file instead of reading it into memory, so a large
checkpoint is touched only where a tensor is viewed, and no code in the pickle runs. bfloat16 tensors
are viewed as ml_dtypes.bfloat16 (numpy has no bf16 of its own). Needs torch (the `[torch]` extra).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import ml_dtypes
import numpy as np


class TorchStateReader(Mapping):
    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path} not found")
        try:
            import torch
        except ImportError:
            raise ImportError(f"reading {self.path} (a PyTorch .pth file) needs torch: pip install -e .[torch]") from None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as err:  # noqa: BLE001  a truncated or foreign file, named with the fix
            raise ValueError(f"{self.path} is not a readable PyTorch state dict ({type(err).__name__}: "
                             f"{str(err).splitlines()[0][:200]}); copy or download it again") from None
        if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
            state = state["state_dict"]
        if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ValueError(f"{self.path} holds no state dict of tensors; pass the weights file itself")
        self._torch, self._state = torch, dict(state)

    def __enter__(self) -> TorchStateReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getitem__(self, name: str) -> np.ndarray:
        return self.view(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._state)

    def __len__(self) -> int:
        return len(self._state)

    def __contains__(self, name) -> bool:
        return name in self._state

    def names(self) -> list[str]:
        return list(self._state)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._state[name].shape)

    def view(self, name: str) -> np.ndarray:
        tensor = self._state[name].detach()
        if tensor.dtype == self._torch.bfloat16:
            return tensor.view(self._torch.int16).numpy().view(ml_dtypes.bfloat16)
        return tensor.numpy()

    def release(self, name: str) -> None:
        """Nothing to do: the mapping's pages go back to the page cache on their own."""

    def close(self) -> None:
        self._state = {}
