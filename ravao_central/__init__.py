"""The central side: the collector that takes every event off the broker, the
record that answers who was where and with whom (and says where it has
holes), and the console. It imports :mod:`ravao_protocol` only, never the
device's or the owner's packages.

So far, the record's rules in plain Python: presence and contacts
(:mod:`ravao_central.presence`), the completeness ledger and a trace's
coverage (:mod:`ravao_central.ledger`).
"""
