"""Prometheus metrics, in a registry per daemon (so tests can run several side by side)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)

from cloudclaude import __version__


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        Info("cloudclaude_build", "Version of the running daemon.", registry=self.registry).info(
            {"version": __version__}
        )
        self.http_requests = Counter(
            "cloudclaude_http_requests_total",
            "HTTP requests answered, by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "cloudclaude_http_request_duration_seconds",
            "HTTP request handling time, by route.",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.auth_attempts = Counter(
            "cloudclaude_auth_attempts_total",
            "Login attempts, by method and result.",
            ["method", "result"],
            registry=self.registry,
        )
        self.component_up = Gauge(
            "cloudclaude_component_up",
            "1 while a supervised component serves.",
            ["component"],
            registry=self.registry,
        )
        self.agent_latency = Histogram(
            "cloudclaude_agent_request_duration_seconds",
            "Time from sending an agent request to its final reply, by op.",
            ["op"],
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 600),
        )
        self.task_duration = Histogram(
            "cloudclaude_task_duration_seconds",
            "Time a task ran, by kind and outcome (succeeded, failed, retry, canceled, ...).",
            ["kind", "outcome"],
            registry=self.registry,
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
        )
        self.hosts = Gauge(
            "cloudclaude_hosts",
            "Hosts by status (refreshed every reconciler round).",
            ["status"],
            registry=self.registry,
        )
        self.tasks = Gauge(
            "cloudclaude_tasks",
            "Tasks by status (refreshed every reconciler round).",
            ["status"],
            registry=self.registry,
        )
        self.reconciler_repairs = Counter(
            "cloudclaude_reconciler_repairs_total",
            "Drift the reconciler acted on, by action (start, stop, removed_container, ...).",
            ["action"],
            registry=self.registry,
        )
        self.scanner_actions = Counter(
            "cloudclaude_scanner_actions_total",
            "Hosts and users a scanner acted on, by scanner and action.",
            ["scanner", "action"],
            registry=self.registry,
        )
        self.ssh_sessions = Gauge(
            "cloudclaude_ssh_sessions_open",
            "SSH sessions open through the proxy now.",
            registry=self.registry,
        )
        self.ssh_sessions_total = Counter(
            "cloudclaude_ssh_sessions_opened_total",
            "SSH sessions opened through the proxy, by kind (shell, exec, sftp).",
            ["kind"],
            registry=self.registry,
        )
        self.ssh_bytes = Counter(
            "cloudclaude_ssh_bytes_total",
            "Session bytes relayed by the SSH proxy: in (client to box) and out.",
            ["direction"],
            registry=self.registry,
        )
        # Per model and outcome, not per user: the label count stays bounded (the users' own
        # totals are in the database: /v1/admin/usage).
        self.llm_requests = Counter(
            "cloudclaude_llm_requests_total",
            "Requests through the credentials endpoint, by model and outcome.",
            ["model", "outcome"],
            registry=self.registry,
        )
        self.llm_tokens = Counter(
            "cloudclaude_llm_tokens_total",
            "Tokens the upstream counted, by model and kind (input, output, cache_*).",
            ["model", "kind"],
            registry=self.registry,
        )
        self.egress_verifications = Counter(
            "cloudclaude_egress_verifications_total",
            "Egress verifications of started hosts, by result (ok, or the failed step).",
            ["result"],
            registry=self.registry,
        )
        self.egress_killswitch_trips = Counter(
            "cloudclaude_egress_killswitch_trips_total",
            "Times a gateway's sing-box was found dead (nothing left the box meanwhile).",
            registry=self.registry,
        )
        self.egress_dropped = Gauge(
            "cloudclaude_egress_dropped_packets",
            "Packets the egress firewall dropped, by rule, over every gateway and the host.",
            ["rule"],
            registry=self.registry,
        )
        self.egress_watch_failures = Counter(
            "cloudclaude_egress_watch_failures_total",
            "Rounds of the daemon's egress watch that failed (agent or database away).",
            registry=self.registry,
        )
        self.egress_gateway_watch_errors = Gauge(
            "cloudclaude_egress_gateway_watch_errors",
            "Unexpected errors the agent's gateway watch survived since the agent started.",
            registry=self.registry,
        )
        self.database_up = Gauge(
            "cloudclaude_database_up",
            "1 when the last database health check succeeded.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
