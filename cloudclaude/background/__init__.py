"""Long-running scanners the supervisor runs: the reconciler, expiry, idle, the egress watch,
the revocation watch (ends live SSH sessions and web terminals whose user's sessions ended)
and the stats sampler (the last hour of running hosts' use, for the admin's charts).

Each is a component with ``run(*, task_status)``; each round acts through the domain services
and survives the errors it expects (the database or the agent away for a while).
"""
