"""Sending an issue to a list, exactly once: plan → claim → batch → provider → record.

- :mod:`.plan`: the ``sends`` row and one ``queued`` delivery per audience member.
- :mod:`.ledger`: every state change of a delivery (claim, record, re-queue).
- :mod:`.recovery`: what a run does first with rows an interrupted run left behind.
- :mod:`.engine`: the loop — pacing, concurrency, retries, stop on Ctrl-C.
- :mod:`.recipients`: each ledger row as a recipient (values and headers from :mod:`newsletter.message`).
- :mod:`.service`: the steps ``newsletter send`` runs, for the CLI and for tests.
- :mod:`.report`: ``newsletter status``.

The guarantee per provider is written down in ``docs/sending.md``.
"""
