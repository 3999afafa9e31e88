"""The uplink: delivers the outbox to the MQTT broker, in order, at least once.

paho-mqtt 2.x runs the network on its own thread (``loop_start``). The
publisher (`appliance.publisher`) publishes unsent events in ``seq`` order, keeps at
most ``inflight`` of them unacknowledged, and an event is marked sent only
when its PUBACK has arrived; a publishing thread of ours reads the outbox ahead
and writes the marks. paho republishes unacknowledged messages after a
reconnect, and the publisher publishes nothing new until it has; after a
restart the publisher starts again from the oldest unsent event, with the same
``event_id``. Nothing here ever blocks the camera loop.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from appliance import __version__
from appliance.clock import clock_synced, rfc3339_ms, utc_now
from appliance.config import MqttConfig
from appliance.outbox import Outbox
from appliance.publisher import InOrderPublisher
from ravao_protocol import topics
from ravao_protocol.settings import parse_broker_url

log = logging.getLogger("ravao.uplink")

RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 60


def why_not_connected(error: BaseException | None) -> str:
    """A connection attempt's error in a person's words."""
    if isinstance(error, socket.gaierror):
        return "no such host (the name does not resolve)"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (no broker listens on that port)"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS verification failed ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed ({error.reason or error})"
    if isinstance(error, TimeoutError):
        return "no answer (timed out)"
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return "the connection failed"

STATUS_EVERY_S = 30.0  # the retained status is republished this often while connected (with its queue)
STATUS_MIN_GAP_S = 2.0  # and, when the unsent count changes, at most this often
BUSY_WAIT_S = 0.005  # the publishing thread looks this often while events are on their way


class ConnectionTrouble:
    """Why the broker cannot be reached, said once for each new reason, with
    paho's retry delay (1 s, doubling up to 60 s)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.reason: str | None = None
        self.attempts = 0

    def failed(self, why: str) -> None:
        """A connection attempt failed for `why`."""
        self.attempts += 1
        if why != self.reason:
            self.reason = why
            delay = min(RECONNECT_MAX_S, RECONNECT_MIN_S * 2 ** (self.attempts - 1))
            log.warning("cannot reach the broker %s: %s; trying again in %d s, then less and less often "
                        "(at most every %d s)", self.url, why, delay, RECONNECT_MAX_S)

    def connected(self) -> None:
        """The connection is up: the next failure is news again."""
        self.reason, self.attempts = None, 0


def paho_client(settings: MqttConfig, client_id: str, *, will: tuple[str, bytes]) -> mqtt.Client:
    """A paho client for `settings`: TLS, account, last will, reconnect delays,
    and no in-flight limit of paho's own (the publisher keeps the window: paho's
    limit would look at every message in flight on every PUBACK)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5 if settings.protocol == "5" else mqtt.MQTTv311)
    tls, _, _ = parse_broker_url(settings.url)
    if tls:
        client.tls_set_context(tls_context(settings))
        client.tls_insecure_set(bool(settings.cert_sha256))  # a pin names the certificate: no host name to check
    if settings.username:
        client.username_pw_set(settings.username, settings.password or None)
    client.will_set(will[0], will[1], qos=1, retain=True)
    client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=RECONNECT_MAX_S)
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    return client


class _PinnedSocket(ssl.SSLSocket):
    """A TLS socket that refuses, right after the handshake and before a byte
    of MQTT (the password) is sent, a broker certificate other than the pinned one."""

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        pin = getattr(self.context, "pin", "")
        seen = hashlib.sha256(self.getpeercert(binary_form=True) or b"").hexdigest()
        if seen != pin:
            error = ssl.SSLCertVerificationError(f"the broker's certificate is not the pinned one (SHA-256 {seen})")
            error.verify_message = f"the broker's certificate has SHA-256 {seen}, not the pinned {pin}"
            self.close()
            raise error


class _PinningContext(ssl.SSLContext):
    pin = ""


def tls_context(settings: MqttConfig) -> ssl.SSLContext:
    """How the device checks an ``mqtts://`` broker: a pinned certificate; or
    the CA the setup QR carried; or ``ca_file``; or the system's trust store."""
    if settings.cert_sha256:
        context: ssl.SSLContext = _PinningContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        context.pin = settings.cert_sha256  # type: ignore[attr-defined]
        context.sslsocket_class = _PinnedSocket
    elif settings.ca_pem:
        context = ssl.create_default_context(cadata=settings.ca_pem)
    else:
        context = ssl.create_default_context(cafile=settings.ca_file or None)
    if settings.cert_file:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    return context


def status_payload(state: str, queue: int, extra: dict[str, Any], *, will: bool = False) -> bytes:
    """The retained status message: the contract's fields, then `extra`.

    The last will (`will`) is handed to the broker when the device connects
    and published by it when the connection is lost: its ``ts`` and ``queue``
    are the connect time's, so it says ``"will": true``.
    """
    body = {"state": state, "ts": rfc3339_ms(utc_now()), "version": __version__, "queue": queue,
            "clock_synced": clock_synced(), **extra, **({"will": True} if will else {})}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Identity:
    """Whose topics the device publishes on."""

    device_id: str
    venue_id: str

    def topic(self, prefix: str, leaf: topics.DeviceLeaf) -> str:
        """This device's events or status topic."""
        return topics.device_topic(prefix, self.venue_id, self.device_id, leaf)


@dataclass
class UplinkState:
    """What the uplink reports to the display and the status topic."""

    online: bool = False
    queue: int = 0  # events the broker has not acknowledged
    in_flight: int = 0  # of those, published and waiting for their PUBACK
    extra: dict[str, Any] = field(default_factory=dict)


class Uplink:
    """Publishes the outbox and the device status to one broker."""

    def __init__(
        self,
        outbox: Outbox,
        identity: Identity,
        settings: MqttConfig,
        *,
        on_change: Callable[[UplinkState], None] | None = None,
        status_extra: Callable[[], dict[str, Any]] | None = None,
        on_delivered: Callable[[], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.identity = identity
        self.settings = settings
        # Only this identity's events go to this broker.
        self.events_topic = identity.topic(settings.topic_prefix, "events")
        # Set for an identity the device has left: called (on a thread of its
        # own) once the last of its events is delivered; the publisher then ends.
        self.on_delivered = on_delivered
        self.on_change = on_change
        self.status_extra = status_extra or (lambda: {})
        self.state = UplinkState(queue=outbox.count_unsent())
        self._subscriptions: dict[str, Callable[[bytes], None]] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._resent = threading.Event()  # paho has published again what the last connection left unacknowledged
        self._client: mqtt.Client | None = None
        self._publisher: InOrderPublisher | None = None
        # Events in flight at once: the config's, or less where an MQTT 5
        # broker's Receive Maximum says so (read on each connection).
        self.window = settings.inflight
        self._thread: threading.Thread | None = None
        self._trouble = ConnectionTrouble(settings.url)

    # -- public ---------------------------------------------------------

    def start(self) -> None:
        """Connect (in the background) and start publishing. Broker settings
        that cannot be used (a CA file that is not there) are logged, and the
        events wait in the outbox."""
        tls, host, port = parse_broker_url(self.settings.url)
        try:
            self._client = self._make_client()
            self._client.connect_async(host, port, keepalive=self.settings.keepalive)
        except (OSError, ValueError) as exc:
            log.error("cannot use the broker settings for %s:%d: %s", host, port, exc)
            self._client = None
            return
        log.info("connecting to %s:%d%s", host, port, " (TLS)" if tls else "")
        self._publisher = InOrderPublisher(self.outbox, self.window, self.events_topic)
        self._client.loop_start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._publish_loop, name="ravao-uplink", daemon=True)
        self._thread.start()

    def stop(self, *, say_offline: bool = True) -> None:
        """Say "offline", disconnect and stop the threads."""
        publisher = self._publisher
        if publisher is not None:
            publisher.close()
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        client = self._client
        if client is not None:
            if say_offline and self._connected.is_set():
                info = client.publish(self._status_topic(), self._status_payload("offline"), qos=1, retain=True)
                try:
                    info.wait_for_publish(timeout=2)
                except (RuntimeError, ValueError):
                    pass
            self._connected.clear()
            client.disconnect()
            client.loop_stop()
        self._connected.clear()
        self._client = None
        if publisher is not None:
            self._publisher = None
            try:
                publisher.finish()
            except Exception:
                log.exception("could not mark the last acknowledged events; they will be sent again")

    def wake(self) -> None:
        """A new event is in the outbox: publish it soon. Returns at once."""
        self._wake.set()

    def subscribe(self, topic: str, handler: Callable[[bytes], None]) -> None:
        """Call `handler(payload)` for messages on `topic` (resubscribed on every connect)."""
        self._subscriptions[topic] = handler
        if self._client is not None and self._connected.is_set():
            self._client.subscribe(topic, qos=1)

    def publish_status(self) -> None:
        """Publish the retained status now (state changed)."""
        client = self._client
        if client is not None and self._connected.is_set():
            client.publish(self._status_topic(), self._status_payload("online"), qos=1, retain=True)

    # -- paho -----------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = paho_client(self.settings, f"ravao-{self.identity.venue_id}-{self.identity.device_id}"[:128],
                             will=(self._status_topic(), self._status_payload("offline", will=True)))
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        try:
            self._connected_now(client, reason_code, properties)
        except Exception:  # never into paho's network thread
            log.exception("handling the connection failed")

    def _on_connect_fail(self, client, userdata) -> None:
        # paho calls this inside its `except OSError:`, so the error is still at hand.
        self._trouble.failed(why_not_connected(sys.exc_info()[1]))

    def _connected_now(self, client: mqtt.Client, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._trouble.failed(f"the broker refused the connection: {reason_code}")
            return
        self._trouble.connected()
        log.info("connected to the broker")
        # paho publishes again what was unacknowledged only after this
        # callback: the publisher waits for the first PUBACK, which comes after.
        self._resent.clear()
        receive_maximum = getattr(properties, "ReceiveMaximum", None)
        self.window = self.settings.inflight
        if receive_maximum:  # less one: the status messages count against it too
            self.window = min(self.window, max(1, receive_maximum - 1))
        if self.window < self.settings.inflight:
            log.info("the broker takes %d unacknowledged events at a time", self.window)
        if self._publisher is not None:
            self._publisher.window = self.window
        self._connected.set()
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)
        client.publish(self._status_topic(), self._status_payload("online"), qos=1, retain=True)
        self._set_state(online=True)
        self._wake.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._connected.is_set():
            log.warning("disconnected from the broker: %s", reason_code)
        self._connected.clear()
        self._set_state(online=False)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if not self._resent.is_set():
            self._resent.set()
            self._wake.set()
        publisher = self._publisher
        if publisher is None:
            return
        try:
            if publisher.acknowledged(client, mid, not reason_code.is_failure):
                self._wake.set()
        except Exception:  # never into paho's network thread
            log.exception("handling the acknowledgement of message %d failed", mid)

    def _on_message(self, client, userdata, message) -> None:
        handler = self._subscriptions.get(message.topic) or next(
            (h for sub, h in self._subscriptions.items() if mqtt.topic_matches_sub(sub, message.topic)), None)
        if handler is None:
            return
        try:
            handler(message.payload)
        except Exception:
            log.exception("handling a message on %s failed", message.topic)

    # -- the publishing thread ----------------------------------------------

    def _publish_loop(self) -> None:
        publisher = self._publisher
        if publisher is None:
            return
        last_status, status_queue = time.monotonic(), self.state.queue  # on_connect sends the first
        while not self._stop.is_set():
            busy = self._connected.is_set() and not publisher.idle()
            self._wake.wait(timeout=BUSY_WAIT_S if busy else 1.0)
            self._wake.clear()
            try:
                publisher.mark_when_due()
                client = self._client
                if client is not None and self._connected.is_set() and self._resent.is_set():
                    publisher.resend_when_due()
                    publisher.read_ahead()
                    publisher.fill(client)
                if (self.on_delivered is not None and publisher.idle()
                        and not self.outbox.count_unsent_on(self.events_topic)):
                    log.info("every event of %s is delivered", self.events_topic)
                    threading.Thread(target=self.on_delivered, name="ravao-delivered", daemon=True).start()
                    return
                self.state.in_flight = publisher.in_flight
                self._set_state(queue=self.outbox.count_unsent())
                now = time.monotonic()
                since = now - last_status
                if since >= STATUS_EVERY_S or (self.state.queue != status_queue and since >= STATUS_MIN_GAP_S):
                    last_status, status_queue = now, self.state.queue
                    self.publish_status()
            except Exception:
                log.exception("publishing failed; retrying")
                self._stop.wait(1.0)
        try:
            publisher.flush_marks()
        except Exception:
            log.exception("could not mark the last acknowledged events; they will be sent again")

    # -- status ---------------------------------------------------------

    def _status_topic(self) -> str:
        return self.identity.topic(self.settings.topic_prefix, "status")

    def _status_payload(self, state: str, *, will: bool = False) -> bytes:
        return status_payload(state, self.state.queue, self.status_extra(), will=will)

    def _set_state(self, **changes: Any) -> None:
        before = (self.state.online, self.state.queue)
        for key, value in changes.items():
            setattr(self.state, key, value)
        if (self.state.online, self.state.queue) != before and self.on_change is not None:
            try:
                self.on_change(self.state)
            except Exception:
                log.exception("uplink state callback failed")
