"""Hostile QR content, fuzzed over the whole path from decoded bytes to the
decision: Checkpoint.decide as the daemon wires it (tests/decide_harness.py).

For every input, on a new device (in setup mode: Wi-Fi QRs are joined), on a
device pinned to an owner, and on one that sends the opt-in CCCD fields:
decide() never raises; the result is a fail with one of the contract's
reasons unless the input is genuinely valid; the event credential has
exactly the contract's keys and no control or format character; and the
device's state folder does not change by a single byte.
"""

from __future__ import annotations

import json
import struct
import unicodedata
import zlib

import base45
import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from appliance.decision import Result
from appliance.decoder import text_of
from ravao_protocol import envelope
from ravao_protocol.keys import key_id, spki_der
from ravao_protocol.limits import MAX_QR_BYTES
from ravao_protocol.passes import issue_pass
from ravao_protocol.refusals import Reason, Refused
from tests.support.decide_harness import T0, DecidePath, check_credential, check_refused, setup_qr
from tests.support.samples import CARDS, MALFORMED_CARD
from tests.support.signed_codes import standard_header

OWNER = Ed25519PrivateKey.generate()
PINNING_SETUP = setup_qr(OWNER, T0 - 600)
VALID_PASS, _ = issue_pass(OWNER, "NV-0012", "Nguyễn Thị Hoa", T0 - 86400, T0 + 86400, T0 - 86400)

FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.data_too_large])
FEW = settings(FUZZ, max_examples=300)

# ---------------------------------------------------------------- devices


@pytest.fixture(scope="module")
def devices(tmp_path_factory):
    """new: no identity, no state; pinned: set up by OWNER; privacy: pinned,
    sending the address and the old id."""
    new = DecidePath(tmp_path_factory.mktemp("new"), device=False)
    pinned = DecidePath(tmp_path_factory.mktemp("pinned"))
    privacy = DecidePath(tmp_path_factory.mktemp("privacy"), address=True, old_id=True)
    for dev in (pinned, privacy):
        assert dev.show(PINNING_SETUP).result is Result.PASS and dev.applied == 1
        assert dev.snapshot() and dev.pinned_pem() is not None
    assert new.snapshot() == {} and new.in_setup_mode
    yield {"new": new, "pinned": pinned, "privacy": privacy}
    for dev in (new, pinned, privacy):
        dev.close()


def privacy_of(dev: DecidePath) -> dict[str, bool]:
    return {"address": dev.config.privacy.cccd_address, "old_id": dev.config.privacy.cccd_old_id}



def shown_everywhere(devices, raw: bytes, text: str | None = None, *, reason: Reason | None = None,
                     reasons: set[Reason] | None = None):
    """Show one code to each device; check the universal properties.

    `reason`/`reasons`: what the fail must say (besides being a contract reason).
    """
    text = text_of(raw) if text is None else text
    decisions = {}
    for name, dev in devices.items():
        before, pinned, applied = dev.snapshot(), dev.pinned_pem(), dev.applied
        decision = dev.decide(raw, text)
        if dev.joins_wifi(text):
            assert decision.result is Result.PASS and decision.credential.type == "wifi", name
            check_credential(decision, raw)
        else:
            check_refused(decision, raw, **privacy_of(dev))
            if reason is not None:
                assert decision.reason is reason, (name, decision.reason, raw[:60])
            if reasons is not None:
                assert decision.reason in reasons, (name, decision.reason, raw[:60])
        # The event payload is UTF-8 JSON: the credential must encode.
        json.dumps(decision.credential.event_object(), ensure_ascii=False).encode("utf-8")
        assert dev.snapshot() == before, f"{name}: the state folder changed for {raw[:60]!r}"
        assert dev.pinned_pem() == pinned and dev.applied == applied, name
        decisions[name] = decision
    return decisions


# ---------------------------------------------------------------- the harness is not vacuous


def test_genuine_codes_pass_through_the_harness(devices):
    """The fail-always properties below mean something only if genuine codes pass."""
    card = CARDS[0].text()
    for name, dev in devices.items():
        d = dev.show(card)
        assert d.result is Result.PASS and d.credential.type == "cccd", name
        check_credential(d, card.encode(), **privacy_of(dev))
    assert devices["pinned"].show(VALID_PASS).result is Result.PASS
    assert devices["new"].show(VALID_PASS).reason is Reason.UNKNOWN_ISSUER  # no key pinned yet
    wifi = devices["new"].show("WIFI:T:WPA;S:BV-Khach;P:matkhau123;;")
    assert wifi.result is Result.PASS and wifi.credential.type == "wifi"
    assert devices["pinned"].show("WIFI:T:WPA;S:BV-Khach;P:matkhau123;;").reason is Reason.UNSUPPORTED
    assert devices["pinned"].show(MALFORMED_CARD.text()).reason is Reason.MALFORMED


# ---------------------------------------------------------------- random bytes


def repeated_to(strategy, low: int, high: int):
    """`strategy`'s values repeated to a length in [low, high]: large inputs
    without asking hypothesis for kilobytes of entropy."""
    return st.tuples(strategy, st.integers(low, high)).map(lambda t: (t[0] * (t[1] // max(1, len(t[0])) + 1))[: t[1]])


LARGE = st.integers(MAX_QR_BYTES - 600, MAX_QR_BYTES)


@FUZZ
@given(st.binary(max_size=600) | repeated_to(st.binary(min_size=1, max_size=64), MAX_QR_BYTES - 600, MAX_QR_BYTES))
@example(b"")
@example(b"\x00" * MAX_QR_BYTES)
def test_random_bytes(devices, raw):
    shown_everywhere(devices, raw)


@FEW
@given(repeated_to(st.binary(min_size=1, max_size=64), MAX_QR_BYTES + 1, 3 * MAX_QR_BYTES),
       st.sampled_from(["", "RVP1:", "RVS1:", "WIFI:S:x;;", "046085001234|", "HC1:"]))
def test_oversized_content_is_malformed(devices, raw, prefix):
    """More than 4096 bytes cannot be a QR code: malformed, whatever it starts with."""
    raw = prefix.encode() + raw
    shown_everywhere(devices, raw, reason=Reason.MALFORMED)


# ---------------------------------------------------------------- every prefix, then garbage

BASE45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
TWELVE_DIGITS = st.text("0123456789", min_size=12, max_size=12)
PREFIXES = st.sampled_from(["RVP1:", "RVS1:", "WIFI:", "HC1:"]) | TWELVE_DIGITS.map(lambda d: d + "|")


def garbage():
    """What follows a prefix: arbitrary text, bytes, base45 text, base45 of
    bytes (reaches zlib), base45 of zlib of bytes (reaches CBOR), WIFI-ish
    fields, bar-separated fields; sometimes ~4 KB of it."""
    b45 = lambda b: base45.b45encode(b).decode("ascii")  # noqa: E731
    small = st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300).map(text_of),
        st.text(BASE45_ALPHABET, max_size=300),
        st.binary(max_size=200).map(b45),
        st.binary(max_size=300).map(lambda b: b45(zlib.compress(b))),
        st.lists(st.text(max_size=12), max_size=8).map("|".join),
        st.lists(st.tuples(st.sampled_from("TSPHtspX"), st.text(max_size=40)), max_size=5)
        .map(lambda kv: "".join(f"{k}:{v};" for k, v in kv) + ";"),
    )
    return small | repeated_to(st.text(min_size=1, max_size=40), MAX_QR_BYTES - 700, MAX_QR_BYTES - 10)


@FUZZ
@given(PREFIXES, garbage())
@example("WIFI:", "S:;;")
@example("WIFI:", "S:BV-Khach;;")  # genuine: joined by the new device, unsupported elsewhere
@example("RVS1:", "")
@example("HC1:", "6BFOXN%TS3DH0YOJ58S S-W5HDC *M0II5XHC9B5G2+$N")
def test_every_prefix_followed_by_garbage(devices, prefix, tail):
    text = prefix + tail
    raw = text.encode("utf-8")
    if prefix == "HC1:":
        # No format claims an EU certificate: unsupported (malformed if too large).
        reasons = {Reason.UNSUPPORTED, Reason.MALFORMED}
    elif prefix in ("RVP1:", "RVS1:"):
        # Garbage cannot carry a trusted signature: it fails before the signature.
        reasons = {Reason.MALFORMED, Reason.UNKNOWN_ISSUER}
    else:
        reasons = None
    shown_everywhere(devices, raw, text, reasons=reasons)


@FEW
@given(PREFIXES, st.binary(max_size=400))
def test_every_prefix_followed_by_raw_bytes(devices, prefix, tail):
    """Bytes that need not be UTF-8 after the prefix: the text is what the decoders make of them."""
    shown_everywhere(devices, prefix.encode() + tail)


# ---------------------------------------------------------------- hostile CBOR in a COSE-like envelope


def head(major: int, argument: int) -> bytes:
    """A CBOR item head with the shortest encoding of `argument`."""
    if argument < 24:
        return bytes([major << 5 | argument])
    for info, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        try:
            return bytes([major << 5 | info]) + struct.pack(fmt, argument)
        except struct.error:
            continue
    raise ValueError(argument)


def bstr(data: bytes) -> bytes:
    return head(2, len(data)) + data


DEPTH = st.integers(17, 10_000)
HUGE = st.sampled_from([2**62, 2**63, 2**64 - 1, 2**32 - 1, 2**31, 10**9, 8193])


@st.composite
def hostile_cbor(draw) -> bytes:
    """CBOR that a careless decoder would recurse, allocate or loop on."""
    kind = draw(st.sampled_from(["arrays", "maps", "tags", "mixed", "huge", "huge_tail", "indefinite",
                                 "bigtag", "bignum", "shared_ref", "set", "bomb_in_bstr"]))
    depth = draw(DEPTH)
    if kind == "arrays":
        return b"\x81" * depth + b"\x00"
    if kind == "maps":
        return b"\xa1\x00" * depth + b"\x00"
    if kind == "tags":
        return head(6, draw(st.sampled_from([18, 61, 24, 55799]))) * depth + b"\x00"
    if kind == "mixed":
        unit = draw(st.sampled_from([b"\x81", b"\xa1\x00", b"\xd2", b"\x82\x00", b"\x9f"]))
        return unit * depth + b"\x00" + b"\xff" * draw(st.integers(0, 3))
    if kind in ("huge", "huge_tail"):
        major = draw(st.sampled_from([2, 3, 4, 5]))
        tail = draw(st.binary(max_size=64)) if kind == "huge_tail" else b""
        return head(major, draw(HUGE)) + tail
    if kind == "indefinite":
        return draw(st.sampled_from([b"\x5f", b"\x7f", b"\x9f", b"\xbf"])) * draw(st.integers(1, 2000))
    if kind == "bigtag":
        return head(6, draw(st.integers(2**32, 2**64 - 1))) + b"\x00"
    if kind == "bignum":  # a bignum of 2000 bytes, then exponentiated as a decimal fraction
        return b"\xc4\x82" + head(0, 2**63 - 1) + b"\xc2" + bstr(b"\xff" * 2000)
    if kind == "shared_ref":  # value sharing / references (tags 28/29)
        return b"\xd8\x1c\x81" + b"\xd8\x1d\x00" * draw(st.integers(1, 500))
    if kind == "set":
        return b"\xd9\x01\x02" + head(4, 3) + b"\x81\x00" * 3
    return bstr(zlib.compress(b"\x81" * depth + b"\x00"))  # CBOR that is compressed again inside


def wrap(prefix: str, cose: bytes) -> str:
    return prefix + base45.b45encode(zlib.compress(cose, 9)).decode("ascii")


A_HEADER_PASS = standard_header(OWNER, {envelope.HEADER_TYP: envelope.CONTENT_TYPES["RVP1:"]})
A_HEADER_SETUP = standard_header(OWNER, {envelope.HEADER_TYP: envelope.CONTENT_TYPES["RVS1:"],
                                         envelope.HEADER_SIGNER_KEY: spki_der(OWNER.public_key())})


def signed_raw_payload(prefix: str, payload: bytes) -> bytes:
    """A COSE_Sign1 truly signed by OWNER whose payload is `payload` (any bytes)."""
    header = A_HEADER_PASS if prefix == "RVP1:" else A_HEADER_SETUP
    protected = cbor2.dumps(header)
    sig = OWNER.sign(cbor2.dumps(["Signature1", protected, b"", payload]))
    return b"\xd2\x84" + bstr(protected) + b"\xa0" + bstr(payload) + bstr(sig)


@st.composite
def hostile_envelopes(draw) -> str:
    prefix = draw(st.sampled_from(["RVP1:", "RVS1:"]))
    bad = draw(hostile_cbor())
    where = draw(st.sampled_from(["whole", "tagged_whole", "cwt_whole", "element", "protected", "unprotected",
                                  "signed_payload", "zlib_bomb"]))
    sig = bstr(bytes(64))
    if where == "whole":
        cose = bad
    elif where == "tagged_whole":
        cose = b"\xd2" + bad
    elif where == "cwt_whole":
        cose = b"\xd8\x3d\xd2" + bad
    elif where == "element":  # an element of the COSE array
        cose = b"\xd2\x84" + bad + b"\xa0" + bstr(b"") + sig
    elif where == "protected":  # the protected header's bytes
        cose = b"\xd2\x84" + bstr(bad) + b"\xa0" + bstr(b"\xa0") + sig
    elif where == "unprotected":
        cose = b"\xd2\x84" + bstr(cbor2.dumps(A_HEADER_PASS)) + bad + bstr(b"\xa0") + sig
    elif where == "signed_payload":  # reaches the claims: the owner's own key signed it
        cose = signed_raw_payload(prefix, bad)
    else:  # a zlib stream that inflates far beyond the limit
        return prefix + base45.b45encode(zlib.compress(b"\x00" * draw(st.integers(9000, 1_000_000)), 9)).decode()
    return wrap(prefix, cose)


@FUZZ
@given(hostile_envelopes())
@example(wrap("RVS1:", b"\x81" * 10_000 + b"\x00"))
@example(wrap("RVP1:", b"\xd2\x84" + head(2, 2**62)))
@example(wrap("RVS1:", b"\xd2\x84" + bstr(head(2, 2**62)) + b"\xa0" + bstr(b"") + bstr(b"")))
@example(wrap("RVP1:", signed_raw_payload("RVP1:", b"\x81" * 10_000 + b"\x00")))
@example(wrap("RVS1:", signed_raw_payload("RVS1:", head(5, 2**62))))
def test_hostile_cbor_inside_the_envelope_is_malformed(devices, text):
    assert len(text) <= MAX_QR_BYTES  # these fit in a QR code: they reach the CBOR decoder
    decisions = shown_everywhere(devices, text.encode("ascii"), text,
                                 reasons={Reason.MALFORMED, Reason.UNKNOWN_ISSUER})
    # Only a pass really signed by the owner, shown to a device that trusts no
    # key yet, fails before its claims are read (issuer before claims).
    assert decisions["pinned"].reason is Reason.MALFORMED
    assert decisions["privacy"].reason is Reason.MALFORMED
    if not (text.startswith("RVP1:") and decisions["new"].reason is Reason.UNKNOWN_ISSUER):
        assert decisions["new"].reason is Reason.MALFORMED


def test_hostile_cbor_examples_reach_the_parser():
    """The hostile items are not refused earlier (base45, zlib) by accident:
    the COSE bytes inflate back to the nested CBOR."""
    text = wrap("RVP1:", b"\x81" * 10_000 + b"\x00")
    assert len(text) < 200
    assert zlib.decompress(base45.b45decode(text[5:])) == b"\x81" * 10_000 + b"\x00"
    # and a payload the owner signed is refused for its CBOR, not its signature
    with pytest.raises(Refused) as caught:
        envelope.read_text(wrap("RVP1:", signed_raw_payload("RVP1:", head(2, 2**62))), "RVP1:",
                           {key_id(OWNER.public_key()): OWNER.public_key()})
    assert caught.value.reason is Reason.MALFORMED and "CBOR" in caught.value.detail


# ---------------------------------------------------------------- invalid UTF-8, NUL bytes

INVALID_UTF8 = st.sampled_from([b"\xff", b"\xfe", b"\xc3", b"\xe1\xba", b"\xc0\xaf", b"\xed\xa0\x80",
                                b"\xf4\x90\x80\x80", b"\x80", b"\xf8\x88\x80\x80\x80"])
NUL = st.sampled_from([b"\x00", b"\x00" * 3, b"\x00\x00\x00\x00" * 64])


def spliced(base: bytes, insert, *, positions: int = 3):
    """`base` with a few byte strings from `insert` spliced in at random places."""
    return st.lists(st.tuples(st.integers(0, len(base)), insert), min_size=1, max_size=positions).map(
        lambda edits: _splice(base, edits))


def not_utf8(raw: bytes) -> bool:
    """Pieces spliced next to each other can make valid UTF-8 again (b"\\xc3" + b"\\x80")."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _splice(base: bytes, edits) -> bytes:
    out = base
    for at, piece in sorted(edits, reverse=True):
        at = min(at, len(out))
        out = out[:at] + piece + out[at:]
    return out


SIGNED = st.sampled_from([VALID_PASS, setup_qr(OWNER, T0 - 60), PINNING_SETUP]).map(str.encode)


@FUZZ
@given(SIGNED.flatmap(lambda b: spliced(b, INVALID_UTF8 | NUL)))
def test_signed_codes_with_invalid_utf8_or_nul_fail(devices, raw):
    shown_everywhere(devices, raw, reasons={Reason.MALFORMED, Reason.UNSUPPORTED})


CARD_TEXTS = st.sampled_from([c.text() for c in CARDS] + [CARDS[0].text(nfd=True)])


@FUZZ
@given(CARD_TEXTS.flatmap(lambda t: spliced(t.encode(), NUL)))
def test_cccd_with_nul_bytes_fails(devices, raw):
    """A NUL anywhere in a card's text is a control character or breaks a
    number: never a pass (inside the name: malformed, not stripped)."""
    shown_everywhere(devices, raw, reasons={Reason.MALFORMED, Reason.UNSUPPORTED})


# Names and addresses whose UTF-8 has no byte in 0x80-0x9F: their Latin-1
# reading has no C1 control character in it (most Vietnamese text does).
LATIN1_CLEAN_CARDS = st.sampled_from([
    "046085001234|191234567|Trần Bá Hòa|12031985|Nam|Huế|05062021",
    "001192004567|Hà Lý|30041992|Nữ|Hà Tĩnh|15082022",
])


@FEW
@given((CARD_TEXTS | LATIN1_CLEAN_CARDS).flatmap(lambda t: spliced(t.encode(), INVALID_UTF8)).filter(not_utf8))
@example("046085001234|191234567|Trần Bá Hòa|12031985|Nam|Huế|05062021".encode().replace(b"|1203", b"\xff|1203"))
def test_cccd_bytes_that_are_not_utf8_fail(devices, raw):
    """The contract: a CCCD QR is UTF-8 text. Bytes that are not UTF-8 reach
    the CCCD reader as their Latin-1 reading (appliance.decoder.text_of) and
    must not pass with that mojibake as the person's name."""
    text = text_of(raw)
    for name, dev in devices.items():
        decision = dev.decide(raw, text)
        check_credential(decision, raw, **privacy_of(dev))
        assert decision.result is Result.FAIL, (
            f"BUG ({name}): a CCCD whose bytes are not UTF-8 passed, the event naming "
            f"{decision.credential.event_object().get('name')!r}; the contract says a CCCD QR is UTF-8 text")


# ---------------------------------------------------------------- names: bidi controls and homoglyphs

# Category C characters that are not whitespace: bidi marks and overrides,
# zero-width characters, the BOM, soft hyphen, tag characters, C0/C1
# controls, private use, unassigned. (Whitespace controls such as \n, \x1c or
# \x85 are collapsed to a space by cccd.py's whitespace normalisation.)
BIDI_AND_FORMAT = st.sampled_from(["\u202e", "\u200f", "\u200e", "\u202a", "\u202b", "\u202c", "\u202d", "\u2066",
                                   "\u2067", "\u2068", "\u2069", "\u061c", "\u200b", "\u200c", "\u200d",
                                   "\ufeff", "\u00ad", "\u2060", "\U000e0001", "\x00", "\x1b", "\x7f",
                                   "\x9b", "\ue000", "\U0010ffff", "\U000e007f"])
assert all(not ch.isspace() and unicodedata.category(ch)[0] == "C" for ch in BIDI_AND_FORMAT.elements)
# Latin letter → a letter of another script that looks the same.
HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "c": "с", "p": "р", "x": "х", "y": "у", "i": "і", "A": "А", "B": "В",
              "H": "Н", "T": "Т", "N": "Ν", "O": "Ο", "K": "Κ"}
HOMOGLYPHS_GREEK_O = {"o": "ο"}


def with_homoglyphs(name: str, picks: list[int], greek: bool) -> str:
    table = HOMOGLYPHS_GREEK_O if greek else HOMOGLYPHS
    chars = list(name)
    for i in picks:
        if chars and chars[i % len(chars)] in table:
            chars[i % len(chars)] = table[chars[i % len(chars)]]
    return "".join(chars)


def card_with(card, *, name: str | None = None, address: str | None = None) -> str:
    fields = [card.id] + ([] if card.old_id is None else [card.old_id]) + [
        card.name if name is None else name, card.dob, card.sex, card.address if address is None else address,
        card.issued]
    return "|".join(fields)


@st.composite
def names_with_bidi(draw):
    card = draw(st.sampled_from(CARDS))
    field = draw(st.sampled_from(["name", "address"]))
    value = getattr(card, field)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(value)))
        value = value[:at] + draw(BIDI_AND_FORMAT) + value[at:]
    return card, card_with(card, **{field: value})


@FUZZ
@given(names_with_bidi())
@example((CARDS[0], card_with(CARDS[0], name="\u202eAn Văn Trần")))
@example((CARDS[1], card_with(CARDS[1], name="Nguyễn Thị\u200f Hồng Nhung")))
@example((CARDS[0], card_with(CARDS[0], address="12 Lê Lợi\u202e, Huế")))
def test_bidi_and_control_characters_in_names_are_malformed(devices, case):
    """cccd.py refuses Unicode category C in the name and the address (which
    is read even when it is not sent): a bidi override cannot reorder what
    the display and the event show."""
    _, text = case
    shown_everywhere(devices, text.encode("utf-8"), text, reason=Reason.MALFORMED)


@st.composite
def names_with_homoglyphs(draw):
    card = draw(st.sampled_from(CARDS))
    greek = draw(st.booleans())
    picks = draw(st.lists(st.integers(0, 200), min_size=1, max_size=8))
    name = with_homoglyphs(card.name, picks, greek)
    address = with_homoglyphs(card.address, draw(st.lists(st.integers(0, 400), max_size=8)), greek)
    return card, name, address


@FUZZ
@given(names_with_homoglyphs())
@example((CARDS[0], "Trаn Vеn Ano", "Huế"))
@example((CARDS[2], "Lе Hοаng Đức", CARDS[2].address))
def test_homoglyph_names_are_letters_and_pass_as_written(devices, case):
    """Cyrillic а/е/о and Greek ο are letters: the card passes and the event
    carries the name exactly as written (NFC), homoglyphs included."""
    card, name, address = case
    text = card_with(card, name=name, address=address)
    for dev_name, dev in devices.items():
        before = dev.snapshot()
        d = dev.show(text)
        assert d.result is Result.PASS and d.credential.type == "cccd", (dev_name, d.reason)
        obj = d.credential.event_object()
        assert obj["name"] == unicodedata.normalize("NFC", name) and obj["id"] == card.id
        if dev.config.privacy.cccd_address:
            assert obj["address"] == unicodedata.normalize("NFC", address)
        check_credential(d, text.encode(), **privacy_of(dev))
        assert dev.snapshot() == before


# ---------------------------------------------------------------- the other card fields

FIELD_NAMES_7 = ["id", "old_id", "name", "dob", "sex", "address", "issued"]


@st.composite
def cards_with_one_edited_field(draw):
    """A sample card with one field replaced, or a character added to it: the
    result must be either a fail, or a pass whose event holds no control
    characters (the id, dates and sex are checked; the name and address are
    free text without category C)."""
    card = draw(st.sampled_from([c for c in CARDS if c.old_id is not None]))
    fields = card_with(card).split("|")
    i = draw(st.integers(0, 6))
    how = draw(st.sampled_from(["replace", "append", "prepend"]))
    piece = draw(st.text(max_size=20) | BIDI_AND_FORMAT | st.sampled_from(["\n", "\r\n", "\t", " ", "\x0b", "\x1c",
                                                                           "\u2028", "\u00a0", "٣", "０", "¹"]))
    fields[i] = {"replace": piece, "append": fields[i] + piece, "prepend": piece + fields[i]}[how]
    return FIELD_NAMES_7[i], "|".join(fields)


@FUZZ
@given(cards_with_one_edited_field())
@example(("old_id", card_with(CARDS[0]).replace("|191234567|", "|191234567\n|")))
@example(("dob", card_with(CARDS[0]).replace("|12031985|", "|12031985\n|")))
def test_edited_card_fields_never_leak_control_characters(devices, case):
    field, text = case
    raw = text.encode("utf-8")
    for name, dev in devices.items():
        before = dev.snapshot()
        d = dev.decide(raw, text)
        # Never an exception; a pass or a fail with a contract reason; a clean credential.
        assert d.result in (Result.PASS, Result.FAIL), (name, d.result)
        if d.result is Result.FAIL:
            check_refused(d, raw, **privacy_of(dev))
        else:
            check_credential(d, raw, **privacy_of(dev))
        assert dev.snapshot() == before


def test_old_id_with_a_trailing_newline_is_malformed(devices):
    """`_OLD_ID = ^([0-9]{9})?$` matches "191234567\\n" ($ matches before a
    final newline), so the old id is sent with the newline in it."""
    text = card_with(CARDS[0]).replace("|191234567|", "|191234567\n|")
    d = devices["privacy"].show(text)
    assert d.result is Result.FAIL and d.reason is Reason.MALFORMED, (
        f"BUG: appliance/credentials/cccd.py accepts old id '191234567\\n' and sends "
        f"{d.credential.event_object().get('old_id')!r}; use re.fullmatch (or \\Z) for the id, old id and dates")


# ---------------------------------------------------------------- the pass and setup paths stay cheap on 4 KB


@FEW
@given(st.sampled_from(["RVP1:", "RVS1:"]), st.text(BASE45_ALPHABET, min_size=1, max_size=3),
       st.integers(MAX_QR_BYTES - 100, MAX_QR_BYTES))
def test_4k_of_base45_after_a_signed_prefix(devices, prefix, unit, size):
    """About 4 KB of valid base45 alphabet (up to the size limit): decoded,
    then refused; the run time of the file shows it is quick (no timing is
    asserted)."""
    text = (prefix + unit * size)[:size]
    shown_everywhere(devices, text.encode(), text, reason=Reason.MALFORMED)
