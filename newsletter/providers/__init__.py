"""Email provider adapters behind one interface (:mod:`newsletter.providers.base`).

Each provider is one class (its module names it in ``PROVIDER``) that carries
everything about it: settings, secrets, batch size, idempotency, how it sends
and how its webhook is read. What the settings need of it (name, batch
maximum, key, its own fields) is its declaration, in ``<name>_declaration.py``:
:mod:`newsletter.providers.catalogue` finds those, plug-ins included, without
loading an adapter; :mod:`newsletter.providers.registry` loads the adapter and
:func:`newsletter.providers.registry.make_provider` builds the one named in
``[provider] name``. Keys are read from the environment and
handed to the adapter only; they are never part of a repr, a log line or an
error message.
"""
