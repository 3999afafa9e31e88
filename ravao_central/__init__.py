"""The central side: the collector that takes every event off the broker, the
record that answers who was where and with whom (and says where it has
holes), and the console. It imports :mod:`ravao_protocol` only, never the
device's or the owner's packages.

So far: the presence and contact rules (:mod:`ravao_central.presence`).
"""
