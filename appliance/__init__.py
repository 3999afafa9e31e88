"""ravao: a QR check-in appliance for the Raspberry Pi.

The daemon decodes QR codes from a camera, decides pass or fail, records a
check-in event durably in an outbox and publishes it over MQTT.
"""

__version__ = "0.1.0"
