"""Bounds on reading an untrusted PDF: how much its compressed streams may inflate.

A few hundred kilobytes of deflate data can inflate to gigabytes (a deflate bomb). Every
check of a downloaded PDF inflates under one budget per document, and pypdf's own
decoders (text extraction, its Flate/LZW/run-length filters) are held to the same size.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_MAX_INFLATED_BYTES = 64 * 1024 * 1024  # a text-only press PDF inflates to a few MB
INFLATE_SLICE_BYTES = 1024 * 1024


class InflateBudget:
    """Inflates Flate streams strictly (no recovery from damaged data) while the bytes they
    inflate to, all streams together, stay within `max_bytes`; raises ValueError otherwise."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0

    def inflate(self, data: bytes, what: str) -> int:
        """Bytes `data` inflates to; ValueError when it is damaged, truncated or over the budget.
        The output is counted in slices of INFLATE_SLICE_BYTES and dropped: memory stays small."""
        decompressor = zlib.decompressobj()
        inflated, pending = 0, data
        try:
            while not decompressor.eof:
                out = decompressor.decompress(pending, INFLATE_SLICE_BYTES)
                pending = decompressor.unconsumed_tail
                if not out and not pending:
                    break  # the input ran out before the stream's end
                inflated += len(out)
                if self.used + inflated > self.max_bytes:
                    raise ValueError(
                        f"{what}: compressed streams inflate past {self.max_bytes} bytes "
                        "(a deflate bomb, or a PDF far larger than a press release)"
                    )
        except zlib.error as error:
            raise ValueError(f"{what}: content stream does not inflate ({error})") from error
        if not decompressor.eof:
            raise ValueError(f"{what}: content stream does not inflate (truncated)")
        self.used += inflated
        return inflated


@contextmanager
def bounded_pypdf(max_bytes: int = DEFAULT_MAX_INFLATED_BYTES) -> Iterator[None]:
    """pypdf's decoders, within this context (this thread), stop at `max_bytes` per stream."""
    from pypdf import apply_configuration

    with apply_configuration(
        zlib_maximum_output_length=max_bytes, lzw_maximum_output_length=max_bytes,
        run_length_maximum_output_length=max_bytes, array_based_stream_maximum_output_length=max_bytes,
        stream_decoding_work_maximum_length=max_bytes, maximum_declared_stream_length=max_bytes,
    ):  # fmt: skip
        yield
