"""Schemathesis against the running server's own OpenAPI document, logged in as each role (engineer,
supervisor, admin): generated requests for every operation, bounded (`RME_FUZZ_SCALE` scales the
example count), and every response must be a non-5xx that matches the schema's declared responses.

A real `rme-server serve` process over HTTPS on loopback; state-changing requests carry the console's
Origin (the CSRF check) like the console does. Operations that end this login session (log out) or
that cost Argon2 seconds per call are fuzzed with few examples, so the test stays bounded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.core.result import Ok

from tests.server.helpers import ADMIN, ENGINEER, SUPERVISOR, RunningServer, running_server

EXAMPLES = max(2, int(5 * float(os.environ.get("RME_FUZZ_SCALE", "1"))))
SKIP = {("POST", "/api/auth/logout")}  # would end the very session the fuzzing runs in
# Argon2 per call, in low-priority workers: on a loaded machine a call can take many seconds.
SLOW = {
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/password"),
    ("POST", "/api/engineers"),
    ("POST", "/api/engineers/{username}/password"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("fuzz")
    with running_server(folder, f"sqlite+aiosqlite:///{folder / 'rme.db'}") as running:
        yield running


def session_for(server: RunningServer, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # a REQUESTS_CA_BUNDLE in the environment would replace `verify`
    session.verify = str(server.ca)
    session.headers["Origin"] = server.origin
    reply = session.post(f"{server.base}/api/auth/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return session


@pytest.mark.parametrize("who", [ENGINEER, SUPERVISOR, ADMIN], ids=["engineer", "supervisor", "admin"])
def test_every_operation_answers_within_its_schema(server: RunningServer, who: tuple[str, str]) -> None:
    session = session_for(server, *who)
    document = session.get(f"{server.base}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    operations: list[Any] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"an operation the fuzzer cannot read: {result}"
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in SKIP:
            operations.append(operation)
    assert len(operations) > 20, "the OpenAPI document lost its operations"
    failures: list[str] = []
    for operation in operations:
        slow = (operation.method.upper(), operation.path) in SLOW
        fuzz(server, session, operation, 2 if slow else EXAMPLES, 120.0 if slow else 30.0, failures)
    assert not failures, "\n\n".join(failures[:20])


def fuzz(
    server: RunningServer,
    session: requests.Session,
    operation: Any,
    examples: int,
    limit: float,
    failures: list[str],
) -> None:
    """Up to `examples` generated requests to one operation; what fails is added to `failures`."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(base_url=server.base, session=session, timeout=limit, verify=str(server.ca))
        try:
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
        except Exception as exc:  # collected, so one run reports every operation that fails
            failures.append(f"{case.method} {case.path}: {str(exc)[:600]}")

    run()
