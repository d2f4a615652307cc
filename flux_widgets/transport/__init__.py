"""How requests travel: the key on the wire (``auth``), HTTP answers as typed errors
(``http_errors``), keys kept out of text (``redaction``), proxies (``network``), retries
(``retry``), poll timing (``polling``), what a client owns per event loop (``lifecycle``), and
output downloads (``downloads``).

Nothing is imported here: ``errors`` imports ``redaction`` and must not pull in the rest.
"""
