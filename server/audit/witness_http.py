"""The witness's HTTP face: a two-route Starlette app on uvicorn (`rme-server audit witness`).

Bodies are read in pieces and refused past `MAX_REQUEST` before anything else is done, so a
stranger cannot make the witness hold a large body in memory. Plain HTTP is enough for the
protocol's safety (every statement is signed, and nothing is secret); put TLS in front when the
witness is reached over a network you do not trust for availability.
"""

from __future__ import annotations

import socket

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.audit.witness import MAX_REQUEST, Answer, Witness

__all__ = ["serve_witness", "witness_app"]


def _response(answer: Answer) -> Response:
    return Response(answer.text, status_code=answer.status, media_type=answer.content_type)


def witness_app(witness: Witness) -> Starlette:
    async def add_checkpoint(request: Request) -> Response:
        body = bytearray()
        async for piece in request.stream():
            body += piece
            if len(body) > MAX_REQUEST:
                return Response("request too large\n", status_code=413)
        return _response(await witness.add_checkpoint(bytes(body)))

    async def latest(request: Request) -> Response:
        origin = request.query_params.get("origin", "")
        return _response(witness.latest(origin))

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/latest", latest, methods=["GET"]),
        ]
    )


async def serve_witness(witness: Witness, host: str, port: int, *, announce: bool = True) -> None:
    """Serve until cancelled; prints the URL (with the real port when `port` is 0) once listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    bound = sock.getsockname()[1]
    config = uvicorn.Config(witness_app(witness), log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    if announce:
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        print(f"witness {witness.key.name} listening on http://{shown}:{bound}", flush=True)
        print(f"witness key: {witness.key.verifier}", flush=True)
    await server.serve(sockets=[sock])
