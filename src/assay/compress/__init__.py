"""Compression: quantize, prune or distil a registered model into a lineage-linked version.

``compress("employment@3", "dynamic-int8")`` registers the compressed model as the next
version, recording its parent, the method, its parameters and the data it read
(docs/compress.md). ``tradeoff("employment@4", on=["test.yaml:test"])`` measures it
against its parent: size, parameters, latency, throughput and the gate's metrics.
"""

from assay.compress.methods import METHODS, Compressed, Parent, compress
from assay.compress.report import TradeoffReport, tradeoff

__all__ = ["METHODS", "Compressed", "Parent", "TradeoffReport", "compress", "tradeoff"]
