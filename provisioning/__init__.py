"""The venue owner's side: the owner's key files, issuing passes and setup
QRs, the revocation list, publishing it, and Mosquitto accounts for the
devices. The formats themselves (and their verification, which the device
runs) are in :mod:`ravao_protocol`.
"""
