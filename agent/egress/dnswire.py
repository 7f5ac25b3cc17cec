"""Just enough of the DNS wire format (RFC 1035) to ask one question and read its answers.

Verification asks from inside a box with the box's own resolver; a library would pull a
dependency into the root process for two record types.
"""

from __future__ import annotations

import ipaddress
import secrets
import struct

TYPE_A = 1
TYPE_TXT = 16
TYPE_AAAA = 28
_CLASS_IN = 1


class DnsError(LookupError):
    """The answer is malformed, for another question, or an error (rcode)."""


def query(name: str, qtype: int) -> tuple[int, bytes]:
    """A recursive query for ``name``: (its id, the packet)."""
    ident = secrets.randbits(16)
    header = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    return ident, header + _name(name) + struct.pack("!HH", qtype, _CLASS_IN)


def _name(name: str) -> bytes:
    out = b""
    for label in name.strip(".").split("."):
        raw = label.encode("idna")
        if not 0 < len(raw) < 64:
            raise DnsError(f"bad DNS name {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def _skip_name(packet: bytes, offset: int) -> int:
    while True:
        if offset >= len(packet):
            raise DnsError("truncated name")
        length = packet[offset]
        if length & 0xC0 == 0xC0:
            return offset + 2
        if length == 0:
            return offset + 1
        offset += 1 + length


def answers(packet: bytes, ident: int, qtype: int) -> list[str]:
    """The ``qtype`` records of the answer: TXT strings joined, A as dotted quads."""
    if len(packet) < 12:
        raise DnsError("short DNS answer")
    got, flags, qdcount, ancount, _ns, _ar = struct.unpack("!HHHHHH", packet[:12])
    if got != ident:
        raise DnsError("answer for another query")
    rcode = flags & 0xF
    if rcode:
        raise DnsError(f"resolver answered rcode {rcode}")
    offset = 12
    for _ in range(qdcount):
        offset = _skip_name(packet, offset) + 4
    found: list[str] = []
    for _ in range(ancount):
        offset = _skip_name(packet, offset)
        if offset + 10 > len(packet):
            raise DnsError("truncated record")
        rtype, _cls, _ttl, length = struct.unpack("!HHIH", packet[offset : offset + 10])
        data = packet[offset + 10 : offset + 10 + length]
        offset += 10 + length
        if rtype != qtype:
            continue
        if rtype == TYPE_A and length == 4:
            found.append(str(ipaddress.IPv4Address(data)))
        elif rtype == TYPE_TXT:
            found.append(_txt(data))
    return found


def _txt(data: bytes) -> str:
    parts: list[str] = []
    offset = 0
    while offset < len(data):
        length = data[offset]
        parts.append(data[offset + 1 : offset + 1 + length].decode(errors="replace"))
        offset += 1 + length
    return "".join(parts)
