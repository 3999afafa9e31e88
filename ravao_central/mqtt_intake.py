"""The collector's MQTT side: a paho-mqtt 2.x client with a persistent
session that puts every message into a bounded queue and acknowledges it
only when the collector says it is stored.

- MQTT 5, a fixed client id, clean start off and a session that outlives
  the collector by a week: while it is down, the broker keeps its messages.
- ``manual_ack``: paho sends no PUBACK by itself. :meth:`MqttIntake.ack`
  sends them, in the order the messages came (MQTT wants that).
- Receive Maximum is the queue's size, so the broker never has more
  unacknowledged messages out to us than the queue holds. If the queue is
  full anyway (the database is down and the writer holds a batch), the
  network thread waits in ``put``: it takes nothing more.
- Each connection has a number; a message is acknowledged only on the
  connection that brought it. After a reconnect the broker sends the
  unacknowledged ones again, and the record ignores a known ``event_id``.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ravao_central.config import CentralMqttConfig
from ravao_protocol import topics
from ravao_protocol.settings import parse_broker_url

log = logging.getLogger("ravao.central.mqtt")

RECEIVE_MAXIMUM = 4000
SESSION_EXPIRY_S = 8 * 24 * 3600  # the contract asks for at least 7 days
KEEPALIVE_S = 60
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 30


@dataclass(frozen=True, slots=True)
class Message:
    """A message off the broker, waiting to be stored and acknowledged."""

    topic: str
    payload: bytes
    received_at: datetime
    mid: int
    qos: int
    connection: int


def subscriptions(settings: CentralMqttConfig) -> list[str]:
    """The topic filters: every device's events and status, through the shared group if one is set."""
    filters = [topics.events(settings.topic_prefix, "+", "+"), topics.status(settings.topic_prefix, "+", "+")]
    if settings.shared_group:
        filters = [f"$share/{settings.shared_group}/{f}" for f in filters]
    return filters


class MqttIntake:
    """Messages from the broker into :attr:`inbox`; acknowledgements back."""

    def __init__(self, settings: CentralMqttConfig, capacity: int = RECEIVE_MAXIMUM) -> None:
        self.settings = settings
        self.inbox: queue.Queue[Message] = queue.Queue(maxsize=capacity)
        self._connection = 0
        self._taking = threading.Event()
        self._taking.set()
        self._connected = threading.Event()
        self.client = self._client(capacity)

    def _client(self, capacity: int) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=mqtt.MQTTv5,
                             manual_ack=True)
        tls, self._host, self._port = parse_broker_url(s.url)
        if tls:
            client.tls_set(ca_certs=s.ca_file or None, cert_reqs=ssl.CERT_REQUIRED,
                           tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if s.username:
            client.username_pw_set(s.username, s.password or None)
        client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._connect_properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        self._connect_properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self._connect_properties.ReceiveMaximum = capacity
        return client

    def start(self) -> None:
        """Connect in the background (retrying with backoff until :meth:`stop`)."""
        log.info("collecting from %s as %r (%s)", self.settings.url, self.settings.client_id,
                 ", ".join(subscriptions(self.settings)))
        self.client.connect_async(self._host, self._port, keepalive=KEEPALIVE_S, clean_start=False,
                                  properties=self._connect_properties)
        self.client.loop_start()

    def stop_taking(self) -> None:
        """Take no new message: what arrives now is left unacknowledged for the broker to send again."""
        self._taking.clear()

    def stop(self) -> None:
        """Disconnect and end the network thread."""
        self._taking.clear()
        while True:  # a network thread waiting in put() must get out of it
            try:
                self.inbox.get_nowait()
            except queue.Empty:
                break
        self.client.disconnect()
        self.client.loop_stop()

    def connected(self) -> bool:
        """Whether the broker connection is up."""
        return self._connected.is_set()

    def ack(self, messages: list[Message]) -> int:
        """Acknowledge stored `messages` that came on the current connection; how many."""
        current = self._connection
        sent = 0
        for message in messages:
            if message.qos > 0 and message.connection == current:
                self.client.ack(message.mid, message.qos)
                sent += 1
        return sent

    # -- paho's callbacks (its network thread) ---------------------------

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("broker %s refused the collector: %s", self.settings.url, reason)
            return
        self._connection += 1
        self._connected.set()
        log.info("connected to %s (session %s)", self.settings.url,
                 "resumed" if _flags.session_present else "new")
        client.subscribe([(f, 1) for f in subscriptions(self.settings)])

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: list[Any],
                      _props: Any) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error("the broker refused the subscriptions (%s): check the collector's account and ACL",
                      ", ".join(refused))
        else:
            log.info("subscribed: the broker keeps this collector's messages from now on")

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        log.warning("cannot reach the broker at %s; trying again (every %d s at most)", self.settings.url,
                    RECONNECT_MAX_S)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._connected.clear()
        if self._taking.is_set():
            log.warning("lost the broker at %s (%s); reconnecting, it keeps our messages", self.settings.url,
                        reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if not self._taking.is_set():
            return
        try:
            topic = message.topic
        except UnicodeDecodeError:  # paho decodes topics as UTF-8; a broker should never pass a bad one
            topic = message._topic.decode("utf-8", "replace")
        self.inbox.put(Message(topic, bytes(message.payload), datetime.now(UTC), message.mid, message.qos,
                               self._connection))
