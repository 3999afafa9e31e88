"""OledFeedback: new screens only, back to idle after a result, the clock's
minute, and a display that fails never reaching the caller."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

import pytest
from luma.core.device import dummy
from PIL import Image

from appliance.config import DisplayConfig
from appliance.decision import Decision, Result
from appliance.feedback import Notice
from appliance.feedback.oled import DisplayError, OledFeedback, open_display, result_screen
from appliance.feedback.screens import DuplicateScreen, ErrorScreen, FailScreen, IdleScreen, PassScreen, render
from ravao_protocol.credential import Credential
from ravao_protocol.refusals import Reason
from tests.support.waiting import wait_for

VENUE = "Bệnh viện Trung ương Huế"
RESULT_S = 0.3


def decision(result: Result, reason: Reason | None = None) -> Decision:
    return Decision(result, Credential("cccd", "052196006666", name="Đặng Thị Mỹ Dung"), "out", reason)


class Clock:
    """A wall clock the test sets."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def pixels(image: Image.Image) -> bytes:
    return image.convert("1").tobytes()


def idle(**kw) -> IdleScreen:
    return IdleScreen(**{"venue": VENUE, "clock": "08:15", **kw})


@pytest.fixture
def clock():
    return Clock(datetime(2026, 11, 27, 8, 15, 20))


@pytest.fixture
def panel(clock):
    device = dummy(width=128, height=64, mode="1")
    feedback = OledFeedback(DisplayConfig(result_seconds=RESULT_S), VENUE, device=device, clock=clock)
    yield device, feedback
    feedback.close()


def shows(device, screen, language: str = "vi") -> bool:
    return device.image is not None and pixels(device.image) == pixels(render(screen, language))


def test_png_folder_gets_each_new_screen_once(tmp_path, clock):
    folder = tmp_path / "screens"
    fb = OledFeedback(DisplayConfig(driver=f"png:{folder}", result_seconds=RESULT_S), VENUE, clock=clock)
    try:
        assert wait_for(lambda: len(list(folder.glob("*.png"))) == 1)
        fb.status(online=True, queue=0, direction="in")
        assert wait_for(lambda: len(list(folder.glob("*.png"))) == 2)
        for _ in range(3):  # the same state again: nothing new to show
            fb.status(online=True, queue=0, direction="in")
            time.sleep(0.1)
        assert len(list(folder.glob("*.png"))) == 2
        fb.decided(decision(Result.PASS))
        assert wait_for(lambda: len(list(folder.glob("*.png"))) == 4)  # the pass, then idle again
        time.sleep(RESULT_S)
    finally:
        fb.close()
    written = sorted(folder.glob("*.png"))
    assert [p.name for p in written] == ["000001.png", "000002.png", "000003.png", "000004.png"]
    expected = [idle(), idle(online=True, direction="in"), PassScreen("Đặng Thị Mỹ Dung", "out"),
                idle(online=True, direction="in")]
    assert [pixels(Image.open(p)) for p in written] == [pixels(render(s)) for s in expected]


def test_png_folder_numbers_on_after_a_restart(tmp_path, clock):
    folder = tmp_path / "screens"
    for run in range(2):
        fb = OledFeedback(DisplayConfig(driver=f"png:{folder}"), VENUE, clock=clock)
        assert wait_for(lambda run=run: len(list(folder.glob("*.png"))) == run + 1)
        fb.close()
    assert sorted(p.name for p in folder.glob("*")) == ["000001.png", "000002.png"]


def test_a_result_shows_then_idle_returns_after_result_seconds(panel):
    device, fb = panel
    fb.status(online=False, queue=4, notice=Notice.NONE, direction="out")
    assert wait_for(lambda: shows(device, idle(unsent=4, direction="out")))
    fb.decided(decision(Result.FAIL, Reason.REVOKED))
    shown_at = time.monotonic()
    assert wait_for(lambda: shows(device, FailScreen(Reason.REVOKED)))
    assert wait_for(lambda: shows(device, idle(unsent=4, direction="out")))
    assert RESULT_S - 0.05 <= time.monotonic() - shown_at < RESULT_S + 2.0


def test_a_new_result_replaces_the_one_on_screen_and_restarts_its_time(panel):
    device, fb = panel
    fb.decided(decision(Result.PASS))
    assert wait_for(lambda: shows(device, PassScreen("Đặng Thị Mỹ Dung", "out")))
    time.sleep(RESULT_S * 0.6)
    fb.decided(decision(Result.DUPLICATE))
    replaced_at = time.monotonic()
    assert wait_for(lambda: shows(device, DuplicateScreen("Đặng Thị Mỹ Dung")))
    assert wait_for(lambda: shows(device, idle()))
    assert time.monotonic() - replaced_at >= RESULT_S - 0.05


def test_the_idle_clock_moves_on_at_the_minute(clock):
    clock.now = datetime(2026, 11, 27, 8, 15, 59, 800_000)
    device = dummy(width=128, height=64, mode="1")
    fb = OledFeedback(DisplayConfig(), VENUE, device=device, clock=clock)
    try:
        assert wait_for(lambda: shows(device, idle()))
        clock.now = datetime(2026, 11, 27, 8, 16, 0, 10_000)  # what the wall clock says 0.2 s later
        assert wait_for(lambda: shows(device, idle(clock="08:16")), timeout=2)
    finally:
        fb.close()


def test_the_idle_screen_shows_no_time_while_the_clock_is_not_synchronised(clock):
    clock.now = None  # what synced_local_time says on a device that has not reached a time server
    device = dummy(width=128, height=64, mode="1")
    fb = OledFeedback(DisplayConfig(), VENUE, device=device, clock=clock)
    try:
        assert wait_for(lambda: shows(device, idle(clock="--:--")))
        clock.now = datetime(2026, 11, 27, 8, 15, 20)
        fb.status(online=True, queue=0)  # any redraw now shows the time
        assert wait_for(lambda: shows(device, idle(clock="08:15", online=True)))
    finally:
        fb.close()


def test_english_screens(clock):
    device = dummy(width=128, height=64, mode="1")
    fb = OledFeedback(DisplayConfig(language="en"), VENUE, device=device, clock=clock)
    try:
        fb.decided(decision(Result.ERROR))
        assert wait_for(lambda: shows(device, ErrorScreen(), "en"))
    finally:
        fb.close()


class FlakyPanel:
    """A panel whose I2C writes fail until `works` is set; it notes the
    threads it was written from."""

    size, mode = (128, 64), "1"

    def __init__(self) -> None:
        self.works = threading.Event()
        self.tries = 0
        self.shown: list[Image.Image] = []
        self.threads: set[str] = set()
        self.cleaned = False

    def display(self, image: Image.Image) -> None:
        self.tries += 1
        self.threads.add(threading.current_thread().name)
        if not self.works.is_set():
            raise OSError(121, "Remote I/O error")
        self.shown.append(image)

    def cleanup(self) -> None:
        self.cleaned = True


def test_a_failing_display_is_logged_once_and_never_reaches_the_caller(clock, caplog):
    caplog.set_level(logging.INFO, logger="ravao.feedback.oled")
    panel = FlakyPanel()
    fb = OledFeedback(DisplayConfig(result_seconds=RESULT_S), VENUE, device=panel, clock=clock)
    try:
        for i in range(5):
            before = panel.tries
            fb.decided(decision(Result.PASS))
            fb.status(online=bool(i % 2), queue=i)
            assert wait_for(lambda before=before: panel.tries > before)
        assert [r.message for r in caplog.records].count(
            "the display failed; carrying on without it until it works again") == 1
        panel.works.set()
        fb.status(online=True, queue=0)
        assert wait_for(lambda: panel.shown)
        assert "the display works again" in caplog.text
        assert threading.current_thread().name not in panel.threads
    finally:
        fb.close()
    assert panel.cleaned


def test_decided_and_status_do_not_wait_for_a_slow_panel(clock):
    stuck = threading.Event()

    class StuckPanel(FlakyPanel):
        def display(self, image):
            stuck.wait(10)  # a panel that hangs until the test lets it go

    fb = OledFeedback(DisplayConfig(), VENUE, device=StuckPanel(), clock=clock)

    def caller() -> None:
        for _ in range(10):
            fb.decided(decision(Result.PASS))
            fb.status(online=True, queue=1)

    try:
        calls = threading.Thread(target=caller, daemon=True)
        calls.start()
        calls.join(timeout=5)
        assert not calls.is_alive(), "decided()/status() waited for the panel"
    finally:
        stuck.set()
        fb.close()


def test_a_panel_that_is_not_there_is_a_clear_error(tmp_path):
    with pytest.raises(DisplayError, match=r"ssd1306 on I2C bus 7 at 0x3d"):
        open_display(DisplayConfig(driver="ssd1306", i2c_port=7, i2c_address=0x3D))
    (tmp_path / "file").write_text("")
    with pytest.raises(DisplayError, match="png:"):
        open_display(DisplayConfig(driver=f"png:{tmp_path / 'file'}"))


@pytest.mark.parametrize("result, reason, screen", [
    (Result.PASS, None, PassScreen("Đặng Thị Mỹ Dung", "out")),
    (Result.FAIL, Reason.EXPIRED, FailScreen(Reason.EXPIRED)),
    (Result.DUPLICATE, None, DuplicateScreen("Đặng Thị Mỹ Dung")),
    (Result.ERROR, None, ErrorScreen()),
])
def test_each_result_has_its_screen(result, reason, screen):
    assert result_screen(decision(result, reason)) == screen


@pytest.mark.parametrize("direction", ["in", "out"])
def test_the_first_screen_already_shows_the_direction(clock, direction):
    device = dummy(width=128, height=64, mode="1")
    feedback = OledFeedback(DisplayConfig(), VENUE, direction=direction, device=device, clock=clock)
    try:
        first = IdleScreen(venue=VENUE, clock="08:15", direction=direction)
        assert wait_for(lambda: device.image is not None)
        assert shows(device, first)
        assert not shows(device, IdleScreen(venue=VENUE, clock="08:15"))
    finally:
        feedback.close()
