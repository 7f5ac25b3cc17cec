"""Long-running scanners the supervisor runs: the reconciler, expiry, idle and the egress watch.

Each is a component with ``run(*, task_status)``; each round acts through the domain services
and survives the errors it expects (the database or the agent away for a while).
"""
