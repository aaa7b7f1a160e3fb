"""Compress a registered model and register the result as its next version.

``compress("employment@3", "dynamic-int8")`` loads the parent, runs one method, checks
that the compressed model loads and answers, and registers it with its lineage in the
version's ``source``::

    {"kind": "compress", "from": {"name", "version"},
     "compression": {"method", "params", "data"}, "steps": [...]}

``from`` is the same link an ONNX export records, so ``assay models lineage`` walks
the chain; ``models show --json`` lifts ``from`` and ``compression`` out as ``parent``
and ``compression``. ``data`` is the dataset version (``FINGERPRINT`` or
``FINGERPRINT:split``) that calibrated the method or taught the student, else null.

Each method is a function ``method(parent: Parent, **params) -> Compressed`` named in
``METHODS`` as ``"module:function"`` and imported only when asked for, so a method's
optional packages (onnxruntime, torch) load only with it. A method checks its own
parameters and refuses any it does not take with ``refuse_extra``.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from assay.errors import ModelCheckFailed, UsageError
from assay.models.flavors import get_flavor
from assay.models.registry import (
    Model,
    check_alias,
    hold_back_registration,
    load_version,
    parse_ref,
    resolve_ref,
)
from assay.models.signature import Signature
from assay.runs import ARTIFACT_PREFIX, sandbox
from assay.store import Store, opened
from assay.store.catalog import ModelVersion
from assay.store.manifests import write_model_manifests

__all__ = ["METHODS", "Compressed", "Parent", "compress", "method_function", "refuse_extra"]

#: Method name → the function that runs it (imported on first use).
METHODS: dict[str, str] = {
    "dynamic-int8": "assay.compress.quantize:dynamic_int8",
    "static-int8": "assay.compress.quantize:static_int8",
    "fp16": "assay.compress.quantize:fp16",
    "prune": "assay.compress.prune:prune",
    "distil": "assay.compress.distil:distil",
}


class Parent:
    """The version being compressed and the store it lives in; ``model`` loads it on
    first use (a method checks its parameters before paying for that)."""

    def __init__(self, store: Store, info: ModelVersion):
        self.store = store
        self.info = info

    @cached_property
    def model(self) -> Model:
        return load_version(self.store, self.info)

    @property
    def columns(self) -> list[str] | None:
        """The model's input columns in signature order, when its signature names them."""
        sig = Signature.from_dict(self.info.signature)
        return [c.name for c in sig.columns] if sig and sig.columns else None


@dataclass(frozen=True)
class Compressed:
    """What a method made, before anything is registered."""

    flavor: str  # the flavor that loads ``data`` (onnx, torch, sklearn …)
    data: bytes
    params: dict[str, Any]  # every parameter the method used, defaults included
    options: dict[str, Any] = field(default_factory=dict)  # the flavor's load options
    data_ref: str | None = None  # the dataset version it read: FINGERPRINT[:split]
    steps: tuple[dict[str, Any], ...] = ()  # e.g. the ONNX export before quantizing
    signature: dict[str, Any] | None = None  # None: the parent's


Method = Callable[..., Compressed]

#: Parameters whose command-line option is not the parameter's name with dashes.
_OPTIONS = {"teachers": "--teacher"}


def refuse_extra(method: str, rest: dict[str, Any]) -> None:
    """``UsageError`` naming the options in ``rest`` (parameters ``method`` does not take)."""
    if rest:
        given = ", ".join(_OPTIONS.get(k, f"--{k.replace('_', '-')}") for k in rest)
        raise UsageError(f"{method} does not take {given}; see `assay compress --help`")


def method_function(method: str) -> Method:
    """The function that runs ``method``; ``UsageError`` naming the known methods."""
    if method not in METHODS:
        raise UsageError(f"unknown compression method {method!r}; use one of {', '.join(METHODS)}")
    module_name, _, function = METHODS[method].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        raise UsageError(
            f"compression method {method!r} is not built yet; use one of "
            f"{', '.join(m for m in METHODS if m != method)}"
        ) from None
    found: Method = getattr(module, function)
    return found


def compress(
    model_ref: str,
    method: str,
    *,
    name: str | None = None,
    aliases: Sequence[str] = (),
    store: Store | None = None,
    **params: Any,
) -> ModelVersion:
    """Compress the version ``model_ref`` names with ``method`` and register the result as
    the next version of the same name (or of ``name``), lineage-linked to its parent.

    ``params`` go to the method (``per_channel``, ``calibration``, ``calibrate`` …; see
    docs/compress.md). Bad input is a ``UsageError`` and nothing is registered; a
    compressed model that does not load or answer is ``ModelCheckFailed``.
    """
    run = method_function(method)
    wanted = [check_alias(a) for a in aliases]
    if name is not None:
        target = parse_ref(name)
        if target.version is not None or target.alias is not None or "@" in name:
            raise UsageError(f"--name {name!r} is a model name, without '@'; e.g. employment-int8")
    with opened(store) as s:
        info = resolve_ref(s, model_ref)
        parent = Parent(s, info)
        made = run(parent, **params)
        _check_loads(made, info)
        sha = hashlib.sha256(made.data).hexdigest()
        compression = {"method": method, "params": made.params, "data": made.data_ref}
        draft = ModelVersion(
            name=name or info.name,
            version=0,
            flavor=made.flavor,
            object_key=f"{ARTIFACT_PREFIX}/{sha[:2]}/{sha}",
            sha256=sha,
            size=len(made.data),
            options=dict(made.options),
            signature=made.signature if made.signature is not None else info.signature,
            source={
                "kind": "compress",
                "from": {"name": info.name, "version": info.version},
                "compression": compression,
                "steps": [dict(step) for step in made.steps],
            },
            description=f"{method} of {info.ref}",
            aliases=tuple(wanted),
            golden=info.golden,
        )
        if sandbox() is not None:  # under assay test reproduce/smoke: recorded, not registered
            return hold_back_registration(s, draft)
        assert draft.object_key is not None
        if not s.objects.exists(draft.object_key):
            s.objects.put_bytes(draft.object_key, made.data)
        model = s.catalog.register_model_version(draft)
        write_model_manifests(s.objects, model)  # `assay recover` restores it from this
        return model


def _check_loads(made: Compressed, parent: ModelVersion) -> None:
    """Refuse bytes that the flavor cannot load (a method's bug, never registered)."""
    try:
        get_flavor(made.flavor).load(made.data, made.options, trusted=False)
    except UsageError as e:
        raise ModelCheckFailed(
            f"the compressed {parent.ref} does not load as a {made.flavor} model ({e}); "
            "nothing was registered"
        ) from None
