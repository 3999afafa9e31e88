"""The venue owner's side: owner keys, signed setup QRs and venue passes,
revocation lists, and Mosquitto accounts for the devices.

Used on the owner's laptop; the verifying half (:mod:`provisioning.envelope`,
:mod:`provisioning.setup_qr`, :mod:`provisioning.passes`,
:mod:`provisioning.revocations`) also runs on the device.
"""
