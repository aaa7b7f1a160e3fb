"""Compression: quantize, prune or distil a registered model into a lineage-linked version.

``compress("employment@3", "dynamic-int8")`` registers the compressed model as the next
version, recording its parent, the method, its parameters and the data it read
(docs/compress.md).
"""

from assay.compress.methods import METHODS, Compressed, Parent, compress

__all__ = ["METHODS", "Compressed", "Parent", "compress"]
