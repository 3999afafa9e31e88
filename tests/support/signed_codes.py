"""Test helpers for taking signed codes apart and putting (forged) ones together."""

from __future__ import annotations

import argparse
import zlib
from typing import Any

import base45
import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import strategies as st

from provisioning.commands import register
from ravao_protocol import envelope
from ravao_protocol.keys import key_id
from ravao_protocol.refusals import Refused


def cose_of(text: str) -> bytes:
    """The COSE bytes inside a QR text (prefix, base45 and zlib taken off)."""
    return zlib.decompress(base45.b45decode(text.split(":", 1)[1]))


def text_of(prefix: str, cose: bytes) -> str:
    """A QR text around COSE bytes."""
    return prefix + base45.b45encode(zlib.compress(cose)).decode("ascii")


def parts_of(cose: bytes) -> list[Any]:
    """[protected bytes, unprotected map, payload bytes, signature] of a tagged COSE_Sign1."""
    item = cbor2.loads(cose)
    assert item.tag == envelope.TAG_COSE_SIGN1
    return list(item.value)


def build_cose(
    header: dict[Any, Any],
    claims: dict[Any, Any],
    private_key: Ed25519PrivateKey,
    *,
    unprotected: dict[Any, Any] | None = None,
    tag: int | None = envelope.TAG_COSE_SIGN1,
) -> bytes:
    """A COSE_Sign1 with exactly the given header and claims, truly signed by `private_key`."""
    protected = cbor2.dumps(header)
    payload = cbor2.dumps(claims)
    to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
    body = [protected, unprotected or {}, payload, private_key.sign(to_sign)]
    return cbor2.dumps(body if tag is None else cbor2.CBORTag(tag, body))


def standard_header(private_key: Ed25519PrivateKey, extra: dict[Any, Any] | None = None) -> dict[Any, Any]:
    """alg EdDSA and the signer's kid, updated with `extra`."""
    header = {envelope.HEADER_ALG: envelope.ALG_EDDSA, envelope.HEADER_KID: key_id(private_key.public_key())}
    return {**header, **(extra or {})}


def run_cli(*argv: str) -> int:
    """Run one of the owner's commands as the `ravao` command line would."""
    parser = argparse.ArgumentParser(prog="ravao")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


MUTATION_CHARS = st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:a\x00é𝄞")


@st.composite
def mutations(draw, text):
    """`text` with a few random edits: replace, insert, delete, truncate, swap."""
    chars = list(text)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "swap"]))
        i = draw(st.integers(0, max(0, len(chars) - 1)))
        if op == "replace" and chars:
            chars[i] = draw(MUTATION_CHARS.filter(lambda c, old=chars[i]: c != old))
        elif op == "insert":
            chars.insert(i, draw(MUTATION_CHARS))
        elif op == "delete" and chars:
            del chars[i]
        elif op == "truncate":
            chars = chars[:i]
        elif op == "swap" and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
    mutated = "".join(chars)
    return mutated if mutated != text else text + "0"


def assert_no_forgery(mutated: str, original: str, verify) -> None:
    """A mutation is refused, and only Refused is raised. The one exception: an
    edit that changes only bits zlib ignores (the padding after the last
    deflate block) leaves the signed COSE bytes identical, and may verify."""
    try:
        verify(mutated)
    except Refused:
        return
    assert cose_of(mutated) == cose_of(original), "a changed code verified"
