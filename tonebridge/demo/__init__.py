"""``tonebridge demo``: the whole loop on one machine, with a simulated ToneBridge app.

The demo starts the embedded stack (broker, SQLite, an MLflow sqlite store; or the real ones
the settings point at), registers a tiny base model as production, runs the worker, the
trainer and the API as child processes, and plays a ToneBridge app whose users rate and
correct rewrites. Everything the app reports is measured: rewrites come from the model that
serves the request, ratings from their chrF against the synthetic task's target.

Modules: ``options`` (sizes), ``users`` (ratings from quality), ``traffic`` (who serves a
request), ``supervise`` (child processes), ``stack`` (infrastructure), ``app`` (the simulated
app), ``story`` (what happened, for the display and the summary), ``display``, ``run``.
"""
