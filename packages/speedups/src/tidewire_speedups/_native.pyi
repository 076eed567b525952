from typing import SupportsIndex

from typing_extensions import Buffer

def xor_mask(
    data: Buffer,
    key: Buffer,
    /,
    start: SupportsIndex | None = 0,
    end: SupportsIndex | None = None,
    offset: SupportsIndex = 0,
) -> bytes:
    """Return ``data[start:end]`` XORed with the 4-byte ``key`` repeated, as new bytes.

    ``data[start]`` is XORed with ``key[offset % 4]``; ``start`` and ``end``
    are byte indices, resolved as in a slice (negative, clamped). This is
    RFC 6455 masking, its own inverse.

    Raises:
        TypeError: ``data`` or ``key`` is not a C-contiguous buffer.
        ValueError: ``key`` is not 4 bytes long.
        OverflowError: an index or ``offset`` does not fit a C ``Py_ssize_t``.
    """

def xor_mask_inplace(
    data: Buffer,
    key: Buffer,
    /,
    start: SupportsIndex | None = 0,
    end: SupportsIndex | None = None,
    offset: SupportsIndex = 0,
) -> None:
    """XOR ``data[start:end]`` with the 4-byte ``key`` repeated, in place.

    As :func:`xor_mask`, but ``data`` must be writable (``bytearray``, a
    writable ``memoryview``...) and is changed instead of copied.

    Raises:
        TypeError: ``data`` is not a writable C-contiguous buffer, or ``key``
            is not a C-contiguous buffer.
        ValueError: ``key`` is not 4 bytes long.
        OverflowError: an index or ``offset`` does not fit a C ``Py_ssize_t``.
    """
