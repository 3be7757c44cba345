"""``newsletter preview``: the issue as subscribers will see it, rebuilt on every save.

- :mod:`.sample`: who the email is personalised for (``[sample]`` or ``--as EMAIL``).
- :mod:`.snapshot`: one build (load → render → merge → check); errors kept, never raised.
- :mod:`.app`: the Starlette app, its watcher (watchfiles) and the SSE stream.
- :mod:`.page`: the page with the 600/375 px frames, text part, inbox line and checks.
- :mod:`.server`: uvicorn on 127.0.0.1, in the foreground or in a thread.
"""
