"""The witness's HTTP interface (Starlette): tlog-witness add-checkpoint, and the latest cosigned checkpoint.

    POST /add-checkpoint      body: "old N", proof lines, a blank line, the signed checkpoint
                              200: the cosignature line; 400, 403, 404, 409 (text/x.tlog.size), 422
    GET  /latest?origin=O     the latest checkpoint cosigned for log O, with this witness's cosignature
                              (for verifiers: a rewritten log does not match it); 404 if none
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from accord.witness.state import WitnessStore

MAX_BODY = 64 * 1024  # 63 proof lines and a checkpoint with a few signatures fit many times over


async def _read_capped(request: Request) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def make_app(directory: Path) -> Starlette:
    store = WitnessStore(directory)

    async def add_checkpoint(request: Request) -> Response:
        body = await _read_capped(request)
        if body is None:
            return PlainTextResponse(f"the request body is larger than {MAX_BODY} bytes\n", status_code=413)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return PlainTextResponse("the request body is not UTF-8\n", status_code=400)
        answer = store.add_checkpoint(text)
        # Set as given: tlog-witness names the 409 body's type exactly (no charset parameter).
        return Response(answer.body, status_code=answer.status, headers={"content-type": answer.content_type})

    async def latest(request: Request) -> Response:
        origin = request.query_params.get("origin", "")
        state = store.latest(origin)
        if state is None or state.note is None:
            return PlainTextResponse(f"no checkpoint of {origin or 'that log'} has been cosigned here\n",
                                     status_code=404)
        return PlainTextResponse(state.note + (state.cosignature or ""))

    return Starlette(routes=[
        Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
        Route("/latest", latest, methods=["GET"]),
    ])
