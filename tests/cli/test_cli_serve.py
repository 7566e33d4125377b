"""`accord serve --workers`: refused out of range; above 1, each worker gets its own socket (or,
where the kernel does not balance SO_REUSEPORT sockets, uvicorn gets the worker factory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.cli import serve


def test_workers_out_of_range_is_bad_input(accord) -> None:  # noqa: ANN001
    accord("serve", "--workers", "0").assert_bad_input("--workers")
    accord("serve", "--workers", "65").assert_bad_input("--workers")


def test_several_workers_start_the_supervisor_and_say_sqlite_takes_turns(
    accord, data_dir: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    started: list[tuple] = []
    monkeypatch.setattr(serve.serve_workers, "balances_connections", lambda: True)
    monkeypatch.setattr(serve.serve_workers.Supervisor, "run",
                        lambda self: started.append((self.host, self.port, self.count)) or 0)
    result = accord("serve", "--port", "8123", "--workers", "2")
    assert result.code == 0, result.err
    assert started == [("127.0.0.1", 8123, 2)]
    assert "SQLite" in result.err and "one writer at a time" in result.err
    assert (data_dir / "accord.db").exists()  # the schema was brought up to date before the workers start


def test_any_free_port_needs_one_worker(accord) -> None:  # noqa: ANN001
    accord("serve", "--port", "0", "--workers", "2").assert_bad_input("--port 0", "--workers 1")


def test_a_port_in_use_is_one_clear_line(accord, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import socket

    with socket.socket() as taken:  # bound without SO_REUSEPORT: no worker may share it
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(serve.serve_workers, "balances_connections", lambda: True)
        result = accord("serve", "--port", str(port), "--workers", "2")
    result.assert_bad_input(f"127.0.0.1:{port}")


def test_without_balancing_uvicorn_runs_the_factory(
    accord, data_dir: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    calls: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(serve.serve_workers, "balances_connections", lambda: False)
    monkeypatch.setattr(serve.uvicorn, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    result = accord("serve", "--port", "8123", "--workers", "2")
    assert result.code == 0, result.err
    [(args, kwargs)] = calls
    assert args == ("accord.cli.serve:app_from_environment",)
    assert (kwargs["factory"], kwargs["workers"], kwargs["port"]) == (True, 2, 8123)


def test_the_worker_factory_builds_the_app_from_the_environment(data_dir: Path) -> None:
    app = serve.app_from_environment()
    try:
        assert app.state.hub.settings.data_dir == data_dir
        assert "/v1/verifications" in app.openapi()["paths"]
    finally:
        app.state.hub.close()


def test_one_worker_serves_the_app_object(accord, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    calls: list[tuple[tuple, dict]] = []
    tuned: list[bool] = []
    monkeypatch.setattr(serve.uvicorn, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    monkeypatch.setattr(serve.serve_workers, "tune_gc_for_serving", lambda: tuned.append(not calls))
    result = accord("serve", "--port", "8124")
    assert result.code == 0, result.err
    assert tuned == [True]  # the collector is tuned once, after the app is built and before serving
    [(args, kwargs)] = calls
    assert not isinstance(args[0], str) and "workers" not in kwargs
    args[0].state.hub.close()
