"""The demo's share-code part runs against a live server on loopback and prints what happened."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console

from accord.app import create_app
from accord.demo import sharecodes as demo
from accord.demo.context import DemoContext
from accord.runtime import Hub
from accord.services import citizens


def test_the_demo_redeems_over_http_and_shows_the_audit(sqlite_dvla_hub: Hub, synth_dir: Path) -> None:
    hub = sqlite_dvla_hub
    (hub.settings.data_dir / citizens.CITIZENS_FILE).write_text('[{"name": "Jordan Example", "nino": "JE123456A"}]')
    server = uvicorn.Server(uvicorn.Config(create_app(hub=hub), host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    out = io.StringIO()
    # nobody among the demo people holds a licence here, so the demo picks a licence holder itself
    ctx = DemoContext(f"http://127.0.0.1:{port}", hub, Console(file=out, width=200), synth_dir,
                  people=[citizens.DemoCitizen("Jordan Example", "JE123456A")])
    try:
        demo.run(ctx)
    finally:
        server.should_exit = True
        thread.join(10)
    text = out.getvalue()
    assert "(mistyped licence) -> 404" in text
    assert "(correct licence) -> 200" in text and '"penalty_points"' in text and '"licence_status"' in text
    assert "(the same code again) -> 410" in text
    # the desk officer redeems with their own token, so the audit names the person (demo/officers.yaml)
    assert text.count("Swiftwheels Van and Car Hire Ltd (fictional) (officer:ofc-") == 3
    assert text.count("(Lee Desk))") == 3
    # the chosen driver can now sign in to see it
    offered = [p for p in citizens.demo_citizens(hub.settings.data_dir)]
    assert len(offered) == 2 and offered[0].nino == "JE123456A"
    assert f"{offered[1].name} created share code" in text
