"""Cheap deterministic identifiers drawn from one seeded ``random.Random``.

Every id the generator writes (message ids, request ids, instance uuids, tokens,
addresses) comes from here, so a seed fixes the output byte for byte. The uuids
are formatted from 128 random bits with the version-4 and RFC 4122 variant bits
set: shaped exactly like ``uuid.uuid4()``, at a fraction of the cost of building
``uuid.UUID`` objects.
"""

from __future__ import annotations

import random

__all__ = ["IdSource"]

# Clear the version nibble and the variant bits, then set version 4 / variant 10.
_CLEAR = ~((0xF << 76) | (0x3 << 62))
_SET = (0x4 << 76) | (0x2 << 62)


class IdSource:
    """Identifier factory over a seeded random generator.

    It does not own the generator: the engine shares one ``random.Random`` between
    its choices and its ids, so the sequence of draws (hence the output) depends
    only on the seed and the options.
    """

    __slots__ = ("_bits", "rng")

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._bits = rng.getrandbits

    def uuid(self) -> str:
        """A uuid4-shaped string, ``xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx``."""
        text = f"{(self._bits(128) & _CLEAR) | _SET:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def hex32(self) -> str:
        """32 hex digits: oslo's ``_unique_id`` and keystone tokens."""
        return f"{self._bits(128):032x}"

    def request_id(self) -> str:
        """``req-<uuid>``, the form of nova's ``_context_request_id``."""
        return "req-" + self.uuid()

    def digits(self, count: int) -> str:
        """A string of ``count`` decimal digits without a leading zero."""
        low = 10 ** (count - 1)
        return str(self.rng.randrange(low, low * 10))

    def ipv4(self, prefix: str = "") -> str:
        """A dotted quad; ``prefix`` (e.g. ``"10.4."``) fixes its first octets."""
        octets = 4 - prefix.count(".")
        tail = ".".join(str(self.rng.randrange(1, 255)) for _ in range(octets))
        return prefix + tail

    def ipv6(self) -> str:
        """A global-looking IPv6 address in the full eight-group form."""
        bits = self._bits(112)
        text = f"2a00{bits:028x}"
        return ":".join(text[i : i + 4] for i in range(0, 32, 4))

    def mac(self) -> str:
        """A MAC address in the ``BC:76:4E`` range nova's xenapi driver used."""
        text = f"{self._bits(24):06X}"
        return f"BC:76:4E:{text[0:2]}:{text[2:4]}:{text[4:6]}"
