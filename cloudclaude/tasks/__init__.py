"""The durable task queue's workers and the per-kind pipelines (create, start, stop, …).

Owns running a claimed task: its lease, retries, cancel, stage events, and the host writes it
makes, each fenced by the lease through ``domain.host_states``.
"""
