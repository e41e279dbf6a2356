"""``tonebridge demo``: the whole loop on one machine, with a simulated ToneBridge app.

The demo starts the embedded stack (broker, SQLite, an MLflow sqlite store; or the real ones
the settings point at), registers a tiny base model as production, runs the worker, the
trainer and the API as child processes, and plays a ToneBridge app whose users rate and
correct rewrites. Everything the app reports is measured: rewrites come from the model that
serves the request, ratings from their chrF against the synthetic task's target.

Modules:

=============  ============================================================================
``options``    sizes, policy files (``policies.yaml``, ``policies_quick.yaml``)
``stack``      broker, database, MLflow: embedded unless configured; the children's settings
``supervise``  child processes (and the base build's daemon thread), always stopped
``models``     the tiny base model, loading models, generating rewrites
``users``      simulated users: rating, acceptance, correction from a rewrite's chrF
``needs``      what the users ask for, round by round (``--rounds``: the needs shift)
``traffic``    which model serves a request (production or an A/B arm)
``app``        the simulated ToneBridge app (producer SDK)
``observe``    following the command and event topics
``story``      what has happened, folded from the events (pure)
``display``    the live view; ``screen`` the terminal; ``summary`` the closing lines
``session``    one run's shared state; ``watchers`` the tasks beside the app
``run``        orchestration, signals, exit status
=============  ============================================================================
"""
