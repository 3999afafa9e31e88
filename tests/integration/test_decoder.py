"""Both decoder backends on real QR images: exact bytes and text."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from appliance.decoder import make_decoder
from appliance.sources.simulated import load_gray
from tests.support.paths import DATA
from tests.support.samples import CARDS, qr_bytes_png, qr_png

TESTDATA = DATA
BACKENDS = ["zxing", "zbar", "zxing+zbar"]


@pytest.fixture(params=BACKENDS)
def decoder(request):
    return make_decoder(request.param)


@pytest.mark.parametrize("eci", [False, True])
@pytest.mark.parametrize("nfd", [False, True])
def test_vietnamese_names_exact(tmp_path, decoder, eci, nfd):
    for i, card in enumerate(CARDS):
        text = card.text(nfd=nfd)
        frame = load_gray(qr_png(text, tmp_path / f"{i}.png", eci=eci))
        (found,) = decoder.decode(frame)
        assert found.text == text, (decoder.name, card.name)
        assert found.raw == text.encode("utf-8")


def test_nfd_text_stays_as_sent(tmp_path, decoder):
    text = unicodedata.normalize("NFD", "Nguyễn Thị Hồng Nhung")
    (found,) = decoder.decode(load_gray(qr_png(text, tmp_path / "n.png")))
    assert found.text == text and not unicodedata.is_normalized("NFC", found.text)


def test_binary_content_round_trips(tmp_path, decoder):
    data = bytes(range(256))
    (found,) = decoder.decode(load_gray(qr_bytes_png(data, tmp_path / "b.png")))
    assert found.raw == data


def test_two_codes_in_one_frame(tmp_path, decoder):
    a = load_gray(qr_png(CARDS[0].text(), tmp_path / "a.png"))
    b = load_gray(qr_png(CARDS[1].text(), tmp_path / "b.png"))
    h = max(a.shape[0], b.shape[0])
    frame = np.full((h, a.shape[1] + b.shape[1]), 255, np.uint8)
    frame[: a.shape[0], : a.shape[1]] = a
    frame[: b.shape[0], a.shape[1]:] = b
    assert sorted(c.text for c in decoder.decode(frame)) == sorted([CARDS[0].text(), CARDS[1].text()])


def test_empty_frames_give_nothing(decoder):
    assert decoder.decode(np.zeros((480, 640), np.uint8)) == []
    assert decoder.decode(np.full((480, 640), 255, np.uint8)) == []
    noise = np.random.default_rng(1).integers(0, 256, (480, 640), dtype=np.uint8)
    assert decoder.decode(noise) == []


def test_false_positive_images_give_nothing(decoder):
    images = [p for p in sorted((TESTDATA / "zxing-falsepositives").rglob("*")) if p.is_file()
              and p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")]
    assert len(images) > 10
    reported = {p.name: decoder.decode(load_gray(p)) for p in images}
    assert {name: codes for name, codes in reported.items() if codes} == {}


@pytest.mark.parametrize("backend, floor", [("zxing", 0.90), ("zbar", 0.65), ("zxing+zbar", 0.94)])
def test_accuracy_on_the_zxing_samples(backend, floor):
    """Regression floor for exact decodes on the 137 single-symbol sample images."""
    decoder = make_decoder(backend)
    total = exact = 0
    for expected in sorted((TESTDATA / "zxing-qrcode").rglob("*.txt")):
        if expected.name.endswith(".result.txt"):
            continue
        images = [p for p in expected.parent.glob(expected.stem + ".*") if not p.name.endswith(".txt")]
        if len(images) != 1:
            continue  # the structured-append message spread over four images
        total += 1
        want = expected.read_bytes().decode("utf-8")
        exact += any(c.text == want for c in decoder.decode(load_gray(images[0])))
    assert total == 137
    assert exact / total >= floor, f"{backend}: {exact}/{total}"


def test_fallback_asks_zbar_only_about_symbols_zxing_could_not_read(monkeypatch):
    from appliance.decoder.fallback import ZxingZbarDecoder

    decoder = ZxingZbarDecoder()
    asked = []
    real = decoder.second.decode
    monkeypatch.setattr(decoder.second, "decode", lambda frame: asked.append(1) or real(frame))
    assert decoder.decode(np.zeros((480, 640), np.uint8)) == []
    assert asked == []
    # zxing-cpp finds the symbols of this sample but fails their checksum; zbar reads it.
    sample = TESTDATA / "zxing-qrcode" / "qrcode-4" / "08.webp"
    want = sample.with_suffix(".txt").read_bytes().decode("utf-8")
    assert [c.text for c in decoder.decode(load_gray(sample))] == [want]
    assert asked == [1]


def test_fallback_takes_a_coarse_second_look_where_nothing_was_read(monkeypatch):
    from appliance.decoder.fallback import ZxingZbarDecoder

    # A code with a photograph blended into its modules: zxing's local
    # threshold follows the photograph and finds no symbol at all; one
    # global threshold at half size reads it.
    sample = TESTDATA / "zxing-qrcode" / "qrcode-2" / "12.webp"
    want = sample.with_suffix(".txt").read_bytes().decode("utf-8")
    frame = load_gray(sample)
    assert make_decoder("zxing").read(frame) == ([], 0)
    decoder = ZxingZbarDecoder()
    asked = []
    monkeypatch.setattr(decoder.second, "decode", lambda frame: asked.append(1) or [])
    assert [c.text for c in decoder.decode(frame)] == [want]
    assert asked == []


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown decoder backend"):
        make_decoder("opencv")
