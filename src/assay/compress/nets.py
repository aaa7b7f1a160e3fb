"""Small torch classifiers that compression builds, trains and registers.

``TabularMLP`` is a multi-layer perceptron over a table's numeric columns (the ACS
model that pruning and dynamic int8 act on), and ``LogitsClassifier`` wraps a user's
``module:Class`` student. Both answer the way assay scores a classifier: ``forward``
gives the class position of each row and ``predict_proba`` (exported to TorchScript)
its probabilities; ``logits`` is what training optimises.

This module imports torch at its top: it is imported only by a torch flavor load (which
has required torch) and by ``assay.compress`` after ``require("torch", …)``.
"""

# No `from __future__ import annotations`: TorchScript reads the buffers' class-level
# annotations as objects, not strings.
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["LogitsClassifier", "TabularMLP", "fit_logits"]


class TabularMLP(nn.Module):
    """An MLP over ``features`` standardised inputs: ``hidden`` ReLU layers, ``classes`` logits.

    The standardisation (``mean``, ``std``) lives in buffers, so it travels in the
    state dict; ``init`` (features, hidden, classes) rebuilds the module around it.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, features: int, hidden: Sequence[int] = (32,), classes: int = 2):
        super().__init__()
        layers: list[nn.Module] = []
        width = features
        for h in hidden:
            layers += [nn.Linear(width, int(h)), nn.ReLU()]
            width = int(h)
        layers.append(nn.Linear(width, classes))
        self.net = nn.Sequential(*layers)
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x).argmax(dim=1)

    @torch.jit.export
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=1)


class LogitsClassifier(nn.Module):
    """A user's module that maps standardised rows to logits, made a classifier."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, module: nn.Module, features: int):
        super().__init__()
        self.module = module
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.module((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x).argmax(dim=1)

    @torch.jit.export
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=1)


def standardise(module: TabularMLP | LogitsClassifier, x: np.ndarray) -> None:
    """Set ``module``'s input standardisation to the columns of ``x`` (constant ones kept as is)."""
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    module.mean.copy_(torch.from_numpy(mean.astype(np.float32)))
    module.std.copy_(torch.from_numpy(std.astype(np.float32)))


def fit_logits(
    module: TabularMLP | LogitsClassifier,
    x: np.ndarray,
    target: np.ndarray,
    *,
    temperature: float = 1.0,
    epochs: int = 30,
    batch_size: int = 256,
    lr: float = 1e-2,
    seed: int = 0,
) -> TabularMLP | LogitsClassifier:
    """Train ``module``'s logits on ``target`` and return it (in eval mode).

    ``target`` is either class positions (integers: cross-entropy on hard labels) or a
    probability matrix (soft targets already at ``temperature``: the loss is
    KL(target ‖ softmax(logits / T)) × T², Hinton et al. 2015, so that its gradients
    keep their size whatever T is). Seeded: the same call gives the same weights.
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    standardise(module, x)
    xs = torch.tensor(np.asarray(x, dtype=np.float32))
    soft = target.ndim == 2
    ys = torch.tensor(target.astype(np.float32 if soft else np.int64))
    optimiser = torch.optim.Adam(module.parameters(), lr=lr)
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(xs), generator=generator)
        for start in range(0, len(xs), batch_size):
            rows = order[start : start + batch_size]
            logits = module.logits(xs[rows])
            if soft:
                log_q = torch.log_softmax(logits / temperature, dim=1)
                loss = nn.functional.kl_div(log_q, ys[rows], reduction="batchmean")
                loss = loss * temperature**2
            else:
                loss = nn.functional.cross_entropy(logits, ys[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    module.eval()
    return module
