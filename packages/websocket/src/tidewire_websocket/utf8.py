"""UTF-8 validation of text messages that arrive in pieces, failing as early as possible."""

from __future__ import annotations

import codecs

__all__ = ["InvalidUTF8", "UTF8Checker"]

_DECODER = codecs.getincrementaldecoder("utf-8")


class InvalidUTF8(ValueError):
    """Bytes that can never be valid UTF-8, whatever follows.

    Attributes:
        start: The index, in the piece just given, of the first byte of the
            invalid sequence; negative when the sequence began in an earlier
            piece.
    """

    def __init__(self, message: str, start: int) -> None:
        super().__init__(message)
        self.start = start


class UTF8Checker:
    """Decodes one text message piece by piece, refusing it at the first impossible byte."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = _DECODER()

    def reset(self) -> None:
        """Forget the previous message."""
        self._decoder.reset()

    def decode(self, data: bytes, last: bool) -> str:
        """The text of ``data``, the next piece of the message; ``last`` ends the message.

        A character split between pieces comes out with the piece that
        completes it.

        Raises:
            InvalidUTF8: the message can no longer be valid UTF-8.
        """
        decoder = self._decoder
        pending = len(decoder.getstate()[0])
        try:
            text = decoder.decode(data, last)
        except UnicodeDecodeError as exc:
            raise InvalidUTF8(
                f"invalid UTF-8 in a text message: {exc.reason}", exc.start - pending
            ) from None
        if not last:
            held = decoder.getstate()[0]
            # CPython's decoder waits for a third byte after ED A0-BF, a
            # surrogate that can never become valid: fail fast.
            if held[:1] == b"\xed" and held[1:2] >= b"\xa0":
                raise InvalidUTF8("invalid UTF-8: a surrogate", len(data) - len(held))
        return text
