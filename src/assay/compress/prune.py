"""Magnitude pruning of torch models: the smallest weights set to zero.

``torch.nn.utils.prune.l1_unstructured`` on the weight of every linear and convolution
layer: ``scope="global"`` ranks all those weights together (a layer whose weights are
small loses more of them), ``scope="layer"`` removes the same fraction from each. The
reparametrisation (``weight_orig`` × ``weight_mask``) is removed before saving, so the
pruned version is an ordinary state dict for the parent's class: it loads, serves and
quantizes like the parent. The achieved sparsity (zeros among the pruned weights) is
recorded with the requested one.

``fine_tune="CMD …"`` (or an argument list) runs the command as ``assay run`` does (a recorded run) with
``ASSAY_PRUNED_IN`` naming the pruned state dict and ``ASSAY_PRUNED_OUT`` where it must
write the fine-tuned one (``torch.save(module.state_dict(), …)``). The masks are applied
again to what it wrote, so fine-tuning changes the kept weights, never the sparsity.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.compress.methods import Compressed, Parent, refuse_extra
from assay.errors import UsageError
from assay.extras import require

__all__ = ["IN_ENV", "OUT_ENV", "Sparsity", "measure_sparsity", "prune", "prune_module"]

IN_ENV = "ASSAY_PRUNED_IN"
OUT_ENV = "ASSAY_PRUNED_OUT"
SCOPES = ("global", "layer")


@dataclass(frozen=True)
class Sparsity:
    """Zeros among the pruned weights, in all and per layer (``{name: fraction}``)."""

    zeros: int
    weights: int
    layers: dict[str, float]

    @property
    def fraction(self) -> float:
        return self.zeros / self.weights if self.weights else 0.0


def _layers(module: Any) -> list[tuple[str, Any]]:
    """The (name, layer) pairs whose ``weight`` is pruned: linear and convolution layers."""
    torch = require("torch", "pruning")
    kinds = (torch.nn.Linear, torch.nn.modules.conv._ConvNd)
    return [(n, m) for n, m in module.named_modules() if isinstance(m, kinds)]


def measure_sparsity(module: Any) -> Sparsity:
    """How many of ``module``'s prunable weights are zero."""
    layers = {n: m.weight for n, m in _layers(module)}
    zeros = {n: int((w == 0).sum()) for n, w in layers.items()}
    return Sparsity(
        zeros=sum(zeros.values()),
        weights=sum(int(w.numel()) for w in layers.values()),
        layers={n: zeros[n] / w.numel() for n, w in layers.items()},
    )


def prune_module(module: Any, amount: float, scope: str = "global") -> dict[str, Any]:
    """Zero the ``amount`` smallest-magnitude weights of ``module`` in place.

    Returns the masks (``{layer name: bool tensor}``, True where a weight is kept); the
    reparametrisation is removed, so ``module`` keeps plain ``weight`` parameters.
    """
    torch = require("torch", "pruning")
    from torch.nn.utils import prune as tprune

    if not 0 <= amount < 1:
        raise UsageError(f"sparsity is {amount!r}; give a fraction in [0, 1), e.g. 0.5")
    if scope not in SCOPES:
        raise UsageError(f"scope {scope!r} is unknown; give one of {', '.join(SCOPES)}")
    layers = _layers(module)
    if not layers:
        raise UsageError(
            f"{type(module).__name__} has no linear or convolution layer to prune; "
            "pruning acts on their weights"
        )
    if scope == "global":
        tprune.global_unstructured(
            [(m, "weight") for _, m in layers], pruning_method=tprune.L1Unstructured, amount=amount
        )
    else:
        for _, m in layers:
            tprune.l1_unstructured(m, "weight", amount=amount)
    masks = {n: m.weight_mask.detach().clone().bool() for n, m in layers}
    for _, m in layers:
        tprune.remove(m, "weight")
    with torch.no_grad():  # a weight already 0 stays 0; masks record what was kept
        for n, m in layers:
            masks[n] &= m.weight != 0
    return masks


def _apply(module: Any, masks: dict[str, Any]) -> None:
    torch = require("torch", "pruning")
    with torch.no_grad():
        for n, m in _layers(module):
            m.weight.mul_(masks[n].to(m.weight.dtype))


def prune(
    parent: Parent,
    *,
    sparsity: float = 0.5,
    scope: str = "global",
    fine_tune: str | Sequence[str] | None = None,
    **rest: Any,
) -> Compressed:
    """The parent's torch module with its ``sparsity`` smallest weights zeroed."""
    refuse_extra("prune", rest)
    command = shlex.split(fine_tune) if isinstance(fine_tune, str) else list(fine_tune or [])
    from assay.models.flavors import get_flavor

    info = parent.info
    if info.flavor != "torch" or not info.options.get("model_class"):
        raise UsageError(
            f"pruning needs a torch model saved as a state dict with its class; {info.ref} is "
            f"{'a TorchScript model' if info.flavor == 'torch' else f'a {info.flavor} model'} "
            "(register the module's weights with --class module:Class)"
        )
    module = parent.model.raw
    masks = prune_module(module, float(sparsity), scope)
    params: dict[str, Any] = {"sparsity": float(sparsity), "scope": scope}
    if command:
        module, run_id = _fine_tune(parent, module, masks, command)
        params.update(fine_tune=command, fine_tune_run=run_id)
    achieved = measure_sparsity(module)
    params["achieved_sparsity"] = round(achieved.fraction, 6)
    module.eval()
    data, options = get_flavor("torch").dump(module, dict(info.options))
    assert data is not None  # torch and sklearn dumps always give bytes
    return Compressed(flavor="torch", data=data, params=params, options=options)


def _fine_tune(
    parent: Parent, module: Any, masks: dict[str, Any], command: list[str]
) -> tuple[Any, str]:
    """``module`` after ``command`` fine-tuned it, its masks applied again; and the run's id."""
    torch = require("torch", "pruning")
    from assay.runs import run_command

    with tempfile.TemporaryDirectory(prefix="assay-prune-") as tmp:
        given, wanted = Path(tmp) / "pruned.pt", Path(tmp) / "finetuned.pt"
        torch.save(module.state_dict(), given)
        env = {IN_ENV: str(given), OUT_ENV: str(wanted)}
        run = run_command(command, name="prune-fine-tune", store=parent.store, env=env)
        if run.status != "finished":
            raise UsageError(
                f"the fine-tuning command failed (run {run.id}: {run.error}); fix it and try "
                "again; nothing was registered"
            )
        if not wanted.is_file():
            raise UsageError(
                f"the fine-tuning command wrote nothing to ${OUT_ENV} (run {run.id}); save the "
                f"state dict there: torch.save(module.state_dict(), os.environ[{OUT_ENV!r}])"
            )
        try:
            state = torch.load(wanted, map_location="cpu", weights_only=True)
            module.load_state_dict(state)
        except (RuntimeError, ValueError, OSError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UsageError(
                f"the fine-tuned weights do not fit {parent.info.ref}'s class ({first}); write "
                f"the pruned module's own state dict to ${OUT_ENV}"
            ) from None
    _apply(module, masks)
    return module, run.id
