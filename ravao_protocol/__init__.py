"""What every side of ravao shares: the contract in code.

The MQTT topic layout (:mod:`~ravao_protocol.topics`), the check-in event and
status schemas (:mod:`~ravao_protocol.events`), refusal reasons
(:mod:`~ravao_protocol.refusals`) and size limits
(:mod:`~ravao_protocol.limits`), the signed envelope and the codes built on
it (:mod:`~ravao_protocol.envelope`, :mod:`~ravao_protocol.passes`,
:mod:`~ravao_protocol.setup_qr`, :mod:`~ravao_protocol.revocations`), key ids
(:mod:`~ravao_protocol.keys`), and the one schema of a device's settings
(:mod:`~ravao_protocol.settings`), read both from the config file and from a
setup QR. It imports nothing else of the project.
"""
