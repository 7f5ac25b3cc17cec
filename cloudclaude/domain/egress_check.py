"""Triple verification of an exit, judged from what the agent observed inside the box.

(1) ``verify_url`` answered, (2) with the exit's ``expected_ip``, (3) the TXT answer for
``verify_dns_name`` (the address of the resolver that asked upstream) is one of
``expected_resolvers``, which proves the box's DNS went through the exit. Each step carries the
registry code of its failure, and the first failure decides the verdict.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import attrs

from agent.protocol import messages as m


@attrs.frozen(kw_only=True)
class Step:
    name: str
    ok: bool
    detail: str
    #: The registry slug of a failed step.
    failure: str = ""


@attrs.frozen(kw_only=True)
class Verdict:
    steps: tuple[Step, ...]
    #: The address the far end saw (empty when it did not answer).
    detected_ip: str = ""

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def failure(self) -> Step | None:
        return next((step for step in self.steps if not step.ok), None)


def _same_ip(text: str, expected: str) -> bool:
    try:
        return ipaddress.ip_address(text.strip()) == ipaddress.ip_address(expected)
    except ValueError:
        return False


def judge(
    reply: m.VerifyReply,
    *,
    url: str,
    expected_ip: str,
    dns_name: str,
    expected_resolvers: Sequence[str],
) -> Verdict:
    steps: list[Step] = []
    detected = ""
    if url:
        answered = not reply.http_error and 200 <= reply.http_status < 300
        detail = reply.http_error or f"HTTP {reply.http_status}"
        steps.append(
            Step(name="http", ok=answered, detail=detail, failure="egress_verify_unreachable")
        )
        if answered:
            detected = reply.http_body.strip()[:64]
            same = _same_ip(detected, expected_ip)
            steps.append(
                Step(
                    name="address",
                    ok=same,
                    detail=f"seen as {detected or '(nothing)'}, expected {expected_ip}",
                    failure="egress_ip_mismatch",
                )
            )
    if dns_name:
        answers = [answer.strip() for answer in reply.txt_answers]
        through = any(_same_ip(a, r) for a in answers for r in expected_resolvers)
        detail = reply.dns_error or f"resolver {', '.join(answers) or '(no answer)'}"
        steps.append(
            Step(
                name="dns",
                ok=through,
                detail=f"{detail}; expected one of {', '.join(expected_resolvers)}",
                failure="egress_dns_leak",
            )
        )
    return Verdict(steps=tuple(steps), detected_ip=detected)


def udp_step(reply: m.VerifyReply, spec: m.ExitSpec) -> Step:
    """Whether the exit carries UDP, as its test found (advice only: never fails the test).

    DNS goes over TCP through every proxy exit, so an exit without UDP still verifies; only the
    box's own UDP depends on it, and ``udp: false`` makes the gateway refuse (and count) it
    instead of sending it to an exit that drops it.
    """
    refused = "boxes' UDP is refused at the gateway and counted (drop_udp)"
    if spec.kind == "http":
        return Step(name="udp", ok=False, detail=f"not carried by an http exit; {refused}")
    if not reply.udp_checked:
        return Step(name="udp", ok=False, detail="not checked (it needs verify_dns_name)")
    answers = [answer.strip() for answer in reply.udp_answers if answer.strip()]
    if answers and not reply.udp_error:
        seen = f"carried (the resolver saw {', '.join(answers)})"
        if spec.udp:
            return Step(name="udp", ok=True, detail=seen)
        return Step(name="udp", ok=True, detail=f"{seen}; this exit has udp: false, so {refused}")
    why = reply.udp_error or "no answer"
    if spec.udp:
        advice = "boxes' UDP through it is lost; set udp: false to have it refused and counted"
        return Step(name="udp", ok=False, detail=f"not carried ({why}); {advice}")
    return Step(name="udp", ok=False, detail=f"not carried ({why}); {refused}")
