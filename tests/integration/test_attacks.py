"""The signed-code attacks at the device: mutated setup QRs and passes shown
to a device pinned to owner A, through Checkpoint.decide and
SetupDesk.intercept as the daemon wires them (tests/decide_harness.py).

A mutated setup QR is never applied: the state folder keeps every byte, the
pinned key stays A's, the decision is a fail. A mutated pass never passes.
The one exception, for both: a mutation that leaves the signed bytes (the
protected header, the payload and the signature) exactly as they were, e.g.
a CWT tag 61 around the COSE_Sign1, which the contract allows, or an edit
that only touches zlib padding; such a code is the genuine one, and then it
must do exactly what the genuine one does.
"""

from __future__ import annotations

import shutil
import zlib
from typing import Any

import base45
import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from appliance.decision import Result
from ravao_protocol import envelope
from ravao_protocol.envelope import (
    HEADER_ALG,
    HEADER_CRIT,
    HEADER_KID,
    HEADER_SIGNER_KEY,
    HEADER_TYP,
    PASS_PREFIX,
    SETUP_PREFIX,
    SUB,
)
from ravao_protocol.keys import key_id, spki_der
from ravao_protocol.passes import issue_pass
from ravao_protocol.refusals import Reason
from ravao_protocol.setup_qr import verify_setup_qr
from tests.support.decide_harness import CONTRACT_REASONS, NOW, T0, DecidePath, check_credential, setup_qr
from tests.support.signed_codes import cose_of, mutations, parts_of, text_of

OWNER_A = Ed25519PrivateKey.generate()
OWNER_B = Ed25519PrivateKey.generate()
KID_A, KID_B = key_id(OWNER_A.public_key()), key_id(OWNER_B.public_key())
SPKI_A, SPKI_B = spki_der(OWNER_A.public_key()), spki_der(OWNER_B.public_key())

PINNING = setup_qr(OWNER_A, T0 - 600)  # applied first: pins A
NEWER = setup_qr(OWNER_A, T0 - 60, device_id="door-02", wifi_ssid="BV-Staff", wifi_psk="matkhau123")
VALID_PASS, PASS_INFO = issue_pass(OWNER_A, "NV-0012", "Nguyễn Thị Hoa", T0 - 86400, T0 + 86400, T0 - 86400)

ATTACKS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.data_too_large])


# ---------------------------------------------------------------- a device pinned to A


class PinnedDevice:
    """A device pinned to A by one genuine setup QR; restored to that exact
    state (a fresh copy of its state folder) whenever a code changed it."""

    def __init__(self, root) -> None:
        self.root = root
        self.pristine = root / "pristine"
        dev = DecidePath(self.pristine)
        assert dev.show(PINNING).result is Result.PASS and dev.applied == 1
        dev.close()
        self.copies = 0
        self.dev = self._copy()

    def _copy(self) -> DecidePath:
        self.copies += 1
        where = self.root / f"copy-{self.copies}"
        shutil.copytree(self.pristine, where)
        return DecidePath(where)

    def restore(self) -> None:
        self.dev.close()
        self.dev = self._copy()


@pytest.fixture(scope="module")
def pinned(tmp_path_factory):
    device = PinnedDevice(tmp_path_factory.mktemp("pinned"))
    yield device
    device.dev.close()


def signed_triple(cose: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(protected, payload, signature) of bytes that look like a COSE_Sign1, leniently parsed."""
    try:
        item = cbor2.loads(cose)
        while isinstance(item, cbor2.CBORTag):
            item = item.value
        if isinstance(item, (list, tuple)) and len(item) == 4 and all(type(item[i]) is bytes for i in (0, 2, 3)):
            return item[0], item[2], item[3]
    except Exception:
        pass
    return None


def signed_bytes_of(text: str) -> tuple[bytes, bytes, bytes] | None:
    try:
        return signed_triple(cose_of(text))
    except Exception:
        return None


def show_attack(device: PinnedDevice, text: str, original: str):
    """Show `text`; if it did anything a refused code must not, it must be the
    genuine `original`'s signed bytes doing exactly what `original` does."""
    dev = device.dev
    before, pem, applied = dev.snapshot(), dev.pinned_pem(), dev.applied
    decision = dev.show(text)
    changed = dev.snapshot() != before or dev.applied != applied
    try:
        _judge(device, decision, text, original, changed, pem)
    finally:
        if changed:  # the next code meets the device in its pinned state again
            device.restore()
    return decision


def _judge(device: PinnedDevice, decision, text: str, original: str, changed: bool, pem: bytes | None) -> None:
    dev = device.dev
    check_credential(decision, text.encode())
    genuine = signed_bytes_of(text) is not None and signed_bytes_of(text) == signed_bytes_of(original)
    if decision.result is Result.FAIL:
        assert decision.reason.value in CONTRACT_REASONS
        assert not changed, "BUG: a refused code changed the device's state"
    else:
        assert decision.result is Result.PASS, decision.result
        assert genuine, f"BUG: a mutated code was accepted: {text!r}"
    assert dev.pinned_pem() == pem, "BUG: the pinned key changed"
    if changed:
        assert genuine, f"BUG: a mutated setup QR was applied: {text!r}"
        # The genuine setup QR's own settings, nothing else.
        qr = verify_setup_qr(original, NOW)
        assert dev.state.provisioned()["device_id"] == qr.settings.device_id == "door-02"
        assert decision.credential.fields["token_id"] == qr.token_id


def test_the_newer_setup_qr_would_be_applied(pinned, tmp_path):
    """Non-vacuity: the unmutated setup QR is applied by a device in the very
    state the mutations are shown to, so refusing them is the checks' doing."""
    shutil.copytree(pinned.pristine, tmp_path / "copy")
    dev = DecidePath(tmp_path / "copy")
    before = dev.snapshot()
    d = dev.show(NEWER)
    assert d.result is Result.PASS and d.credential.type == "setup" and dev.applied == 1
    assert dev.snapshot() != before and dev.state.provisioned()["device_id"] == "door-02"
    dev.close()
    assert pinned.dev.show(VALID_PASS).result is Result.PASS


def test_replaying_the_applied_setup_qr_changes_nothing(pinned):
    d = show_attack(pinned, PINNING, PINNING)
    assert d.result is Result.FAIL and d.reason is Reason.EXPIRED


# ---------------------------------------------------------------- text-level mutations


def text_mutations(text: str):
    """signed_codes.mutations over the whole text, and over the body only (the
    prefix kept, so the edit always reaches base45, zlib and the COSE)."""
    prefix, body = text[:5], text[5:]
    return mutations(text) | mutations(body).map(lambda b: prefix + b)


@ATTACKS
@given(text_mutations(NEWER))
def test_mutated_setup_qr_text_is_never_applied(pinned, mutated):
    d = show_attack(pinned, mutated, NEWER)
    event(f"{d.result.value} {d.reason.value if d.reason else ''}")


@ATTACKS
@given(text_mutations(VALID_PASS))
def test_mutated_pass_text_never_passes(pinned, mutated):
    d = show_attack(pinned, mutated, VALID_PASS)
    event(f"{d.result.value} {d.reason.value if d.reason else ''}")
    if d.result is Result.PASS:
        assert d.credential.event_object() == {"type": "pass", "id": "NV-0012", "name": "Nguyễn Thị Hoa",
                                               "token_id": PASS_INFO.token_id, "issuer": KID_A.hex()}


# ---------------------------------------------------------------- COSE-level mutations


def head(major: int, argument: int) -> bytes:
    if argument < 24:
        return bytes([major << 5 | argument])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < 256 ** size:
            return bytes([major << 5 | info]) + argument.to_bytes(size, "big")
    raise ValueError(argument)


def raw_map(pairs: list[tuple[Any, Any]]) -> bytes:
    """A CBOR map written pair by pair: duplicate keys stay duplicate."""
    return head(5, len(pairs)) + b"".join(cbor2.dumps(k) + cbor2.dumps(v) for k, v in pairs)


class Cose:
    """A COSE_Sign1 taken apart so that each attack can change one piece."""

    def __init__(self, text: str) -> None:
        self.prefix = text[:5]
        protected, unprotected, payload, signature = parts_of(cose_of(text))
        self.protected, self.payload, self.signature = protected, payload, signature
        self.unprotected: bytes = cbor2.dumps(unprotected)
        self.tags = [envelope.TAG_COSE_SIGN1]
        self.drop_signature_element = False
        self.after: list[Any] = []  # edits of the final bytes

    def header(self) -> dict:
        """The protected header as a dict ({} once an earlier attack broke it)."""
        return _map_or_empty(self.protected)

    def claims(self) -> dict:
        return _map_or_empty(self.payload)

    def set_header(self, **changes: Any) -> None:
        h = self.header()
        for label, value in changes.items():
            label = {"alg": HEADER_ALG, "kid": HEADER_KID, "key": HEADER_SIGNER_KEY, "typ": HEADER_TYP,
                     "crit": HEADER_CRIT}[label]
            if value is None:
                h.pop(label, None)
            else:
                h[label] = value
        self.protected = cbor2.dumps(h)

    def resign(self, key: Ed25519PrivateKey) -> None:
        self.signature = key.sign(cbor2.dumps(["Signature1", self.protected, b"", self.payload]))

    def cose(self) -> bytes:
        elements = [cbor2.dumps(self.protected), self.unprotected, cbor2.dumps(self.payload)]
        if not self.drop_signature_element:
            elements.append(cbor2.dumps(self.signature))
        body = head(4, len(elements)) + b"".join(elements)
        for tag in reversed(self.tags):
            body = head(6, tag) + body
        for edit in self.after:
            body = edit(body)
        return body

    def text(self) -> str:
        return self.prefix + base45.b45encode(zlib.compress(self.cose())).decode("ascii")


def _map_or_empty(data: bytes) -> dict:
    try:
        value = cbor2.loads(data)
    except Exception:
        return {}
    return dict(value) if isinstance(value, dict) else {}


def _flip(data: bytes, at: int, bit: int) -> bytes:
    if not data:
        return data
    i = at % len(data)
    return data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1:]


OPS = ["flip_any", "flip_signature", "flip_payload", "flip_protected", "empty_signature", "no_signature_element",
       "swap_kid", "swap_kid_and_key", "swap_key", "no_key", "alg", "alg_unprotected", "unprotected_kid",
       "unprotected_key", "tag61", "untag", "retag", "dup_protected", "dup_unprotected", "dup_payload",
       "change_claims", "resign_b_keep_a_header", "resign_b_as_b", "typ", "crit", "trailing", "truncate",
       "swap_prefix"]


@st.composite
def cose_attacks(draw, text: str):
    c = Cose(text)
    setup = c.prefix == SETUP_PREFIX
    ops = draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=3))
    for op in ops:
        at, bit = draw(st.integers(0, 10_000)), draw(st.integers(0, 7))
        if op == "flip_any":
            c.after.append(lambda b, at=at, bit=bit: _flip(b, at, bit))
        elif op == "flip_signature":
            c.signature = _flip(c.signature, at, bit)
        elif op == "flip_payload":
            c.payload = _flip(c.payload, at, bit)
        elif op == "flip_protected":
            c.protected = _flip(c.protected, at, bit)
        elif op == "empty_signature":
            c.signature = b""
        elif op == "no_signature_element":
            c.drop_signature_element = True
        elif op == "swap_kid":
            c.set_header(kid=draw(st.sampled_from([KID_B, KID_A[:-1], KID_A + b"\x00", b"", "kid"])))
        elif op == "swap_kid_and_key":
            c.set_header(kid=KID_B, key=SPKI_B)
        elif op == "swap_key":
            c.set_header(key=draw(st.sampled_from([SPKI_B, SPKI_A[:-1], SPKI_A + b"\x00", b"", b"\x00" * 300])))
        elif op == "no_key":
            c.set_header(key=None)
        elif op == "alg":
            c.set_header(alg=draw(st.sampled_from([-7, -35, 0, -8.0, "EdDSA", None, -19, -257])))
        elif op == "alg_unprotected":
            c.unprotected = cbor2.dumps({HEADER_ALG: draw(st.sampled_from([-8, -7]))})
        elif op == "unprotected_kid":
            c.unprotected = cbor2.dumps({HEADER_KID: draw(st.sampled_from([KID_A, KID_B]))})
        elif op == "unprotected_key":
            c.unprotected = cbor2.dumps({HEADER_SIGNER_KEY: SPKI_B})
        elif op == "tag61":
            c.tags.insert(0, envelope.TAG_CWT)
        elif op == "untag":
            c.tags = [t for t in c.tags if t != envelope.TAG_COSE_SIGN1]
        elif op == "retag":
            c.tags = [draw(st.sampled_from([98, 17, 16, 96, 61]))]
        elif op == "dup_protected":
            pairs = list(c.header().items())
            dup = draw(st.sampled_from([(HEADER_ALG, -7), (HEADER_ALG, -8), (HEADER_KID, KID_B), (HEADER_KID, KID_A),
                                        (HEADER_SIGNER_KEY, SPKI_B)]))
            pairs.insert(draw(st.integers(0, len(pairs))), dup)
            c.protected = raw_map(pairs)
        elif op == "dup_unprotected":
            c.unprotected = raw_map([(HEADER_KID, KID_A), (HEADER_KID, KID_B)] if draw(st.booleans())
                                    else [(33, b"x"), (33, b"y")])
        elif op == "dup_payload":
            pairs = list(c.claims().items())
            pairs.append(draw(st.sampled_from([(SUB, "evil-door"), (envelope.EXP, T0 + 10**8),
                                               ("broker", "mqtt://evil.example"), (envelope.IAT, T0 + 3000)])))
            c.payload = raw_map(pairs)
        elif op == "change_claims":
            claims = c.claims()
            label, value = draw(st.sampled_from([(SUB, "evil-door"), (envelope.EXP, T0 + 10**8),
                                                 (envelope.IAT, T0 + 3000), ("broker", "mqtt://evil.example"),
                                                 (envelope.ISS, KID_B.hex()), ("name", "Kẻ Giả Mạo")]))
            claims[label] = value
            c.payload = cbor2.dumps(claims)
        elif op == "resign_b_keep_a_header":
            c.resign(OWNER_B)
        elif op == "resign_b_as_b":  # a genuine code of owner B, with A's claims
            claims = c.claims()
            claims[envelope.ISS] = KID_B.hex()
            c.payload = cbor2.dumps(claims)
            c.set_header(kid=KID_B, **({"key": SPKI_B} if setup else {}))
            c.resign(OWNER_B)
        elif op == "typ":
            c.set_header(typ=envelope.CONTENT_TYPES[PASS_PREFIX if setup else SETUP_PREFIX])
        elif op == "crit":
            c.set_header(crit=[HEADER_KID])
        elif op == "trailing":
            extra = draw(st.sampled_from([b"\x00", b"\xa0", b"\xf6" * 4]))
            c.after.append(lambda b, extra=extra: b + extra)
        elif op == "truncate":
            c.after.append(lambda b, at=at: b[: at % max(1, len(b))])
        elif op == "swap_prefix":
            c.prefix = PASS_PREFIX if setup else SETUP_PREFIX
    return ops, c.text()


@ATTACKS
@given(cose_attacks(NEWER))
@example((["re-encoded, unchanged"], Cose(NEWER).text()))  # genuine: applied, then the device is restored
def test_cose_mutations_of_a_setup_qr_are_never_applied(pinned, case):
    ops, text = case
    assert len(text) <= 4096
    d = show_attack(pinned, text, NEWER)
    event(f"{d.result.value} {d.reason.value if d.reason else ''}")


@ATTACKS
@given(cose_attacks(VALID_PASS))
def test_cose_mutations_of_a_pass_never_pass(pinned, case):
    ops, text = case
    d = show_attack(pinned, text, VALID_PASS)
    event(f"{d.result.value} {d.reason.value if d.reason else ''}")
    if d.result is Result.PASS:
        assert d.credential.event_object()["token_id"] == PASS_INFO.token_id


def test_mutation_strategies_reach_the_signature_check(pinned):
    """The COSE attacks are not all refused as unparseable: a flipped
    signature byte and a changed claim get as far as the signature."""
    for edit in (lambda c: setattr(c, "signature", _flip(c.signature, 5, 0)),
                 lambda c: setattr(c, "payload", cbor2.dumps({**cbor2.loads(c.payload), SUB: "evil-door"}))):
        for original in (NEWER, VALID_PASS):
            c = Cose(original)
            edit(c)
            d = show_attack(pinned, c.text(), original)
            assert d.result is Result.FAIL and d.reason is Reason.BAD_SIGNATURE, (original[:5], d.reason)


# ---------------------------------------------------------------- named attacks, exact reasons


def test_cwt_tag_61_around_the_genuine_setup_qr_is_the_genuine_one(pinned):
    """The contract allows tag 61 around the COSE_Sign1: not a mutation of the signed bytes."""
    c = Cose(NEWER)
    c.tags.insert(0, envelope.TAG_CWT)
    d = show_attack(pinned, c.text(), NEWER)
    assert d.result is Result.PASS and d.credential.type == "setup"


@pytest.mark.parametrize("alg", [-7, -35, 0, -8.0, "EdDSA", None])
def test_other_algorithms_are_malformed_even_if_signed_by_a(pinned, alg):
    """alg is fixed by the format: a header naming ES256 (-7), ES384 (-35),
    nothing (0) or a look-alike -8.0 is refused, even with A's real signature."""
    for original in (NEWER, VALID_PASS):
        c = Cose(original)
        c.set_header(alg=alg)
        c.resign(OWNER_A)
        d = show_attack(pinned, c.text(), original)
        assert d.result is Result.FAIL and d.reason is Reason.MALFORMED, (alg, original[:5], d.reason)


def test_setup_qr_of_owner_b_carrying_its_own_key_is_unknown_issuer(pinned):
    """Genuine for owner B (kid = B's key id, B's key carried, B's signature):
    a new device would take it; a device pinned to A refuses it."""
    text = setup_qr(OWNER_B, T0 - 30, device_id="door-09")
    assert verify_setup_qr(text, NOW).signer_id == KID_B.hex()  # genuine for a new device
    d = show_attack(pinned, text, NEWER)
    assert d.result is Result.FAIL and d.reason is Reason.UNKNOWN_ISSUER
    assert pinned.dev.state.provisioned()["device_id"] == "door-01"


@pytest.mark.parametrize("case", ["a_signs_kid_a_carries_b", "b_signs_kid_a_carries_b", "b_signs_kid_b_carries_a",
                                  "a_signs_kid_b_carries_a"])
def test_carried_key_not_matching_its_kid_is_refused_on_a_new_device(tmp_path, case):
    signer, kid, carried = {
        "a_signs_kid_a_carries_b": (OWNER_A, KID_A, SPKI_B),
        "b_signs_kid_a_carries_b": (OWNER_B, KID_A, SPKI_B),
        "b_signs_kid_b_carries_a": (OWNER_B, KID_B, SPKI_A),
        "a_signs_kid_b_carries_a": (OWNER_A, KID_B, SPKI_A),
    }[case]
    c = Cose(NEWER)
    c.set_header(kid=kid, key=carried)
    claims = cbor2.loads(c.payload)
    claims[envelope.ISS] = kid.hex()
    c.payload = cbor2.dumps(claims)
    c.resign(signer)
    new = DecidePath(tmp_path / "state", device=False)
    d = new.show(c.text())
    assert d.result is Result.FAIL and d.reason is Reason.UNKNOWN_ISSUER, d.reason
    assert new.snapshot() == {} and new.pinned_pem() is None and new.applied == 0 and new.in_setup_mode
    # the same construction with a matching key is taken: the refusal is the mismatch's
    good = Cose(NEWER)
    good.set_header(kid=key_id(signer.public_key()), key=spki_der(signer.public_key()))
    claims[envelope.ISS] = key_id(signer.public_key()).hex()
    good.payload = cbor2.dumps(claims)
    good.resign(signer)
    assert new.show(good.text()).result is Result.PASS and new.applied == 1
    new.close()


@pytest.mark.parametrize("where", ["protected", "payload", "unprotected"])
def test_duplicate_map_keys_are_malformed_even_when_signed_by_a(pinned, where):
    """Two values for one label (two kids, two device ids) would let two
    parsers read two different codes: refused even with A's real signature."""
    for original in (NEWER, VALID_PASS):
        c = Cose(original)
        if where == "protected":
            c.protected = raw_map([*c.header().items(), (HEADER_KID, KID_A)])
        elif where == "payload":
            c.payload = raw_map([*c.claims().items(), (SUB, "evil-door")])
        else:
            c.unprotected = raw_map([(33, b"x"), (33, b"y")])
        c.resign(OWNER_A)
        d = show_attack(pinned, c.text(), original)
        assert d.result is Result.FAIL and d.reason is Reason.MALFORMED, (where, original[:5], d.reason)


@pytest.mark.parametrize("unprotected", [{HEADER_KID: KID_A}, {HEADER_ALG: -8}, {HEADER_TYP: "x"}],
                         ids=["kid", "alg", "typ"])
def test_alg_kid_typ_in_the_unprotected_header_are_malformed(pinned, unprotected):
    """Unprotected parameters are not signed: alg, kid and typ there are
    refused, even when they repeat the protected ones of a genuine code."""
    for original in (NEWER, VALID_PASS):
        c = Cose(original)
        c.unprotected = cbor2.dumps({**unprotected, **({HEADER_TYP: c.header()[HEADER_TYP]}
                                                       if HEADER_TYP in unprotected else {})})
        d = show_attack(pinned, c.text(), original)
        assert d.result is Result.FAIL and d.reason is Reason.MALFORMED, (unprotected, original[:5], d.reason)


def test_pass_of_owner_b_and_pass_with_a_kid_signed_by_b(pinned):
    text_b, _ = issue_pass(OWNER_B, "NV-0012", "Nguyễn Thị Hoa", T0 - 86400, T0 + 86400, T0 - 86400)
    assert show_attack(pinned, text_b, VALID_PASS).reason is Reason.UNKNOWN_ISSUER
    c = Cose(VALID_PASS)
    c.resign(OWNER_B)
    assert show_attack(pinned, c.text(), VALID_PASS).reason is Reason.BAD_SIGNATURE


def test_setup_qr_shown_as_a_pass_and_a_pass_as_a_setup_qr(pinned):
    """Same owner, same envelope, other kind: the typ header tells them apart."""
    as_pass = PASS_PREFIX + NEWER[len(SETUP_PREFIX):]
    as_setup = SETUP_PREFIX + VALID_PASS[len(PASS_PREFIX):]
    assert show_attack(pinned, as_pass, VALID_PASS).reason is Reason.MALFORMED
    assert show_attack(pinned, as_setup, NEWER).reason is Reason.MALFORMED


def test_a_signed_setup_qr_without_typ_still_needs_its_carried_key(pinned):
    """A missing typ is accepted (codes made by other tools); a pass-shaped
    code under RVS1: then fails for want of the carried key."""
    c = Cose(VALID_PASS)
    c.prefix = SETUP_PREFIX
    c.set_header(typ=None)
    c.resign(OWNER_A)
    d = show_attack(pinned, c.text(), NEWER)
    assert d.result is Result.FAIL and d.reason is Reason.MALFORMED


def test_cose_rebuild_is_byte_identical():
    """Cose() takes a code apart and puts it back byte for byte: each attack changes only what it says."""
    assert cose_of(text_of(SETUP_PREFIX, cose_of(NEWER))) == cose_of(NEWER) == Cose(NEWER).cose()
