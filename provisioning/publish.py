"""Publishing retained messages to a broker from the owner's laptop, once.

MQTT 5, so that a broker that refuses a publish (its ACL) says so in the
PUBACK instead of dropping the message silently as MQTT 3.1.1 lets it.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ravao_protocol.errors import UserError
from ravao_protocol.settings import parse_broker_url


def publish_retained(
    url: str,
    messages: Sequence[tuple[str, bytes]],
    *,
    username: str = "",
    password: str = "",
    ca_file: str = "",
    timeout: float = 10.0,
) -> None:
    """Publish each (topic, payload) retained with QoS 1 and wait for every
    PUBACK; :class:`UserError` when the broker is unreachable, refuses the
    login or a publish, or does not answer within `timeout` seconds.
    """
    try:
        tls, host, port = parse_broker_url(url)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if password and not username:
        raise UserError("a broker password needs a broker user")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, reconnect_on_failure=False)
    client.connect_timeout = timeout
    if username:
        client.username_pw_set(username, password or None)
    if tls:
        try:
            client.tls_set(ca_certs=ca_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise UserError(f"cannot use CA file {ca_file!r}: {exc}") from None

    connected = threading.Event()
    answers: dict[str, Any] = {}
    acks: dict[int, Any] = {}

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        answers["connect"] = reason_code
        connected.set()

    def on_publish(client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        acks[mid] = reason_code

    client.on_connect = on_connect
    client.on_publish = on_publish
    where = f"{host}:{port}"
    try:
        client.connect(host, port, keepalive=max(5, int(timeout) * 2))
    except (OSError, ssl.SSLError) as exc:  # refused, unreachable, DNS, TLS, timeout
        raise UserError(f"cannot reach the broker at {where}: {exc}") from None
    client.loop_start()
    try:
        deadline = time.monotonic() + timeout
        if not connected.wait(timeout):
            raise UserError(f"the broker at {where} did not answer within {timeout:g} s")
        if answers["connect"].is_failure:
            raise UserError(f"the broker at {where} refused the login: {answers['connect']}")
        sent = [(topic, client.publish(topic, payload, qos=1, retain=True)) for topic, payload in messages]
        for topic, info in sent:
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise UserError(f"cannot publish to {topic}: {mqtt.error_string(info.rc)}")
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                raise UserError(f"the broker at {where} did not acknowledge {topic} within {timeout:g} s")
            if acks[info.mid].is_failure:
                raise UserError(f"the broker at {where} refused {topic}: {acks[info.mid]}")
    finally:
        client.disconnect()
        client.loop_stop()
