"""Providers of FLUX.1 [schnell], one module per protocol family behind one interface.

```
Provider (base.py)             builds requests, reads answers into a Job; never sends anything
 +-- ReplicatePredictions      replicate.py: create / Prefer: wait / query / cancel
 |     COMETAPI, REPLICATE
 +-- FalQueue                  fal.py: submit / status (queue position, logs) / result / cancel
 |     FAL
 +-- OpenAIImages              openai_images.py: one synchronous POST, no cancel
 |     TOGETHER
 +-- HuggingFaceRouter         huggingface.py (+ huggingface_routes.py): HF's router, a route
       HUGGINGFACE             per serving provider, route="auto" asks the Hub; one image a call
```
The client and its generations own everything that is the same for all of them
(``generation/``, ``transport/``): retries (never a create that may have been paid for), the
total deadline, cancellation on deadline or task cancel, the query-rate cap, downloads without
the key. A provider says what differs: the
request shapes, the auth scheme and the one origin that may see the key, which statuses mean
what, where the outputs and the seed are, which typed error an answer means, and which field
values it can honour (derived from its ``FieldMap``, the fields its request carries: a value it
cannot honour raises ``ValueError`` naming it, before any request), and who it is for people
(``title``, ``key_env_vars``, ``console``, ``cancel_note``, ``price``, and the key-quota route
where it has one): the studio, the price table and the usage report read these, and nothing
outside this package switches on a provider's name.

Adding a provider
-----------------
1. Same protocol as an existing family, another host: instantiate the family
   (``ReplicatePredictions(...)``, ``OpenAIImages(...)``) with its base URL, key variables,
   paths, model id and price, and add it to ``PROVIDERS`` in ``settings.py``.
2. A new protocol: subclass ``Provider`` in a new module here. Set ``name``, ``title``,
   ``default_base_url``, ``key_env_vars``, ``console``, ``auth_scheme``, ``field_map``,
   ``cancel_note`` and ``price``; implement ``create_request``/``read_created`` (and, if it
   polls, ``poll_request``/``read_polled``; if it can cancel, ``cancel_request``; ``error_for``
   where its error answers need more than ``http_errors``; ``quota_request`` if the host reports
   a key's quota). Pure functions of ``httpx.Response``: test them on hand-built answers.
3. Register it in ``PROVIDERS``, give the mock a family module (``flux_widgets/mock/``, one line
   in its registry), add its own cases in ``tests/providers/`` (the registry-wide tests cover it
   as it is), and a section in ``docs/providers.md`` and a row in the README's providers table.
``FluxClient(provider=MyProvider(...))`` also takes an unregistered instance.
"""

from __future__ import annotations

from .base import FINAL_STATUSES, Capabilities, FieldMap, Job, Output, Provider, Request
from .fal import FAL, FalQueue
from .huggingface import HUGGINGFACE, HuggingFaceRouter
from .openai_images import TOGETHER, OpenAIImages
from .pricing import Price
from .quota import KeyQuota
from .replicate import (
    COMETAPI,
    MODEL,
    REPLICATE,
    Prediction,
    ReplicatePredictions,
    final_status_error,
    parse_prediction,
    parse_timestamp,
    seed_from_logs,
)
from .settings import (
    DEFAULT_PROVIDER,
    PROVIDERS,
    Settings,
    get_provider,
    resolve_settings,
)

__all__ = [
    "COMETAPI",
    "DEFAULT_PROVIDER",
    "FAL",
    "FINAL_STATUSES",
    "HUGGINGFACE",
    "MODEL",
    "PROVIDERS",
    "REPLICATE",
    "TOGETHER",
    "Capabilities",
    "FalQueue",
    "FieldMap",
    "HuggingFaceRouter",
    "Job",
    "KeyQuota",
    "OpenAIImages",
    "Output",
    "Prediction",
    "Price",
    "Provider",
    "ReplicatePredictions",
    "Request",
    "Settings",
    "final_status_error",
    "get_provider",
    "parse_prediction",
    "parse_timestamp",
    "resolve_settings",
    "seed_from_logs",
]
