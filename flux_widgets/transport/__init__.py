"""How requests travel: the key on the wire (``auth``), HTTP answers as typed errors
(``http_errors``), keys kept out of text (``redaction``), proxies (``network``), retries
(``retry``), poll timing (``polling``), sending a provider's requests by those rules
(``sending``), what a client owns per event loop (``lifecycle``), output downloads
(``downloads``), and the in-package mock answered in this process (``in_process``).

Nothing is imported here: ``errors`` imports ``redaction`` and must not pull in the rest.
"""
