"""MiniLM text encoding: our JAX port (jit) against the packaged PyTorch BertModel, same CPU.

    python benchmarks/text_encoder.py [--repeats 5 --max-len 512 --threads 1]

Prints sentences/s (best of --repeats, interleaved: the CPU may be shared) at batch 1 and 32, for the model alone (pre-tokenized, padded to the batch's
longest caption) and end to end (tokenize + encode; ours also zero-pads to --max-len and copies the
(B, max_len, 384) result to the host, as preprocessing stores it). `--threads 1` runs both single
threaded (torch.set_num_threads(1), XLA without its Eigen thread pool): on a CPU shared with other
jobs, PyTorch's spinning OpenMP threads otherwise lose most of their speed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if "--threads" in sys.argv and sys.argv[sys.argv.index("--threads") + 1] == "1":  # before jax starts
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"

import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from flax import nnx  # noqa: E402

from unityvideo_jax.model.text.bert import load_bert  # noqa: E402
from unityvideo_jax.model.text.encoders import minilm_directory, minilm_encoder  # noqa: E402

SUBJECTS = ["a man", "two dogs", "a red car", "a dancer", "an old woman", "a cyclist", "a cat", "a child"]
ACTIONS = ["walks along a beach at sunset", "runs through tall grass in slow motion", "turns left at a busy crossing",
           "spins under stage lights", "reads a newspaper on a bench in the park", "climbs a steep mountain road",
           "jumps onto a wooden table", "plays with a kite on a windy hill"]  # fmt: skip
CAPTIONS = [f"{s} {a}, filmed with a handheld camera." for s in SUBJECTS for a in ACTIONS][:32]


def _best_seconds(fns: dict, repeats: int) -> dict:
    """Fastest of `repeats` runs per function, interleaved so load from other processes hits all alike."""
    for fn in fns.values():
        fn()  # warm-up / compile
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[key] = min(best[key], time.perf_counter() - start)
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--max-len", type=int, default=512)
    p.add_argument("--threads", type=int, default=None, help="torch threads; 1 also makes XLA single threaded")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from transformers import AutoTokenizer, BertModel

    directory = minilm_directory()
    hf_tokenizer = AutoTokenizer.from_pretrained(str(directory))
    torch_model = BertModel.from_pretrained(str(directory), add_pooling_layer=False).eval()
    graphdef, state = nnx.split(load_bert(directory))
    jax_forward = jax.jit(lambda state, ids, mask: nnx.merge(graphdef, state)(ids, mask))
    encoder = minilm_encoder(max_len=args.max_len)

    def torch_model_only(batch):
        with torch.inference_mode():
            torch_model(**batch).last_hidden_state.numpy()

    def torch_end_to_end(captions):
        with torch.inference_mode():
            torch_model(**hf_tokenizer(captions, padding=True, return_tensors="pt")).last_hidden_state.numpy()

    rows = []
    for size in (1, 32):
        groups = [CAPTIONS[i : i + size] for i in range(0, len(CAPTIONS), size)][: max(1, 8 // size)]
        batches = [hf_tokenizer(g, padding=True, return_tensors="pt") for g in groups]
        arrays = [(b["input_ids"].numpy().astype(np.int32), b["attention_mask"].numpy() > 0) for b in batches]
        n = sum(len(g) for g in groups)
        timings = {
            ("PyTorch BertModel", "model"): lambda: [torch_model_only(b) for b in batches],
            ("JAX port (jit)", "model"): lambda: [jax_forward(state, i, m).block_until_ready() for i, m in arrays],
            ("PyTorch BertModel", "end to end"): lambda: [torch_end_to_end(g) for g in groups],
            ("JAX TextEncoder", "end to end"): lambda: [encoder.encode(g) for g in groups],
        }
        for (name, scope), seconds in _best_seconds(timings, args.repeats).items():
            rows.append((name, scope, size, n / seconds))

    print(f"MiniLM-L6 (384 wide), CPU with {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
          f"jax {jax.__version__} on {jax.devices()[0].platform}, TextEncoder max_len {args.max_len}")  # fmt: skip
    print(f"{'implementation':<20} {'scope':<11} {'batch':>5} {'sentences/s':>12}")
    for name, scope, size, rate in rows:
        print(f"{name:<20} {scope:<11} {size:>5} {rate:>12.1f}")


if __name__ == "__main__":
    main()
