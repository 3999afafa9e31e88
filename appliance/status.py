"""What the device says of itself: the notice on its screen and the fields
its status message carries beyond the contract's."""

from __future__ import annotations

from typing import Any

from appliance.feedback import Notice
from ravao_protocol.settings import DeviceSettings


def notice_of(*, storage_ok: bool, camera_ok: bool, has_identity: bool) -> Notice:
    """The most important thing for the idle screen to say."""
    if not storage_ok:
        return Notice.STORAGE_ERROR
    if not camera_ok:
        return Notice.CAMERA_LOST
    if not has_identity:
        return Notice.SETUP
    return Notice.NONE


def status_extra(device: DeviceSettings | None, direction: str, *, camera_ok: bool,
                 storage_ok: bool) -> dict[str, Any]:
    """The status message's fields beyond the contract's: camera, storage,
    mode, direction, and a bus's vehicle and route."""
    extra: dict[str, Any] = {"camera": "ok" if camera_ok else "lost", "storage": "ok" if storage_ok else "error"}
    if device is not None:
        extra["mode"] = device.mode
        extra["direction"] = direction or device.direction
        if device.mode == "bus":
            extra["vehicle"], extra["route"] = device.vehicle, device.route
    return extra
