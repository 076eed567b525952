"""Optional compiled primitives for tidewire's cores.

A core uses them when this distribution is installed, unless the environment
variable ``TIDEWIRE_NO_SPEEDUPS`` is set to a non-empty value other than
``0``; the core's pure-Python code stays the reference and gives identical
results. Every function takes any C-contiguous buffer (``bytes``,
``bytearray``, ``memoryview``, ``array``...), seen as its bytes.
"""

from __future__ import annotations

from tidewire_speedups._native import xor_mask, xor_mask_inplace

__all__ = ["xor_mask", "xor_mask_inplace"]
