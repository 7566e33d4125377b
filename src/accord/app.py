"""create_app(settings) -> the ASGI app: API, public register pages and assets."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from accord import __version__
from accord.api import headers, openapi, problems
from accord.api.middleware import RequestLimits
from accord.api.routes import access, agreements, audit, auth, bodies, officers, register
from accord.config import Settings
from accord.runtime import Hub
from accord.services.audit import AuditWorker
from accord.services.purposes import purposes, resolve
from accord.storage.wal import WalCheckpointer

DESCRIPTION = """
Accord is a governed hub for sharing personal data between public bodies under
Part 5 of the Digital Economy Act 2017.

* Systems authenticate with OAuth2 client credentials (`POST /oauth/token`);
  officers (people) use a token issued to them after signing in to the pages
  (/officer). Either is sent as `Authorization: Bearer <token>` on every call
  except the public register, and the audit log names the system or the
  verified officer. The old `X-Accord-Officer` header is ignored.
* Requests may carry `X-Request-Id`; writes accept an `Idempotency-Key`.
* Every error is `application/problem+json` (RFC 9457) with a human sentence.
"""


def create_app(settings: Settings | None = None, *, hub: Hub | None = None) -> FastAPI:
    if hub is None:
        if settings is None:
            raise ValueError("create_app needs settings or a hub")
        hub = Hub.open(settings)
    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # noqa: ANN202 - the server process runs the audit worker
        worker = AuditWorker(hub)
        worker.start()
        checkpointer = WalCheckpointer(hub.engine) if WalCheckpointer.applies_to(hub.engine) else None
        if checkpointer is not None:
            checkpointer.start()
        from accord.services.jobs import Worker as JobWorker  # durable background jobs of every registered kind

        workers = [resolve(path)(hub) for path in purposes().workers]  # what each purpose runs in the server
        workers += [JobWorker(hub) for _ in range(hub.settings.job_workers)]
        for each in workers:
            each.start()
        try:
            yield
        finally:
            for each in reversed(workers):
                each.stop()
            worker.stop()
            if checkpointer is not None:
                checkpointer.stop()

    # FastAPI's native OpenTelemetry is off: Accord configures no exporter, and with it on
    # every request asks OpenTelemetry's providers whether one exists (up to 8% of the CPU
    # of a verification check in a profile).
    telemetry = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    app = FastAPI(
        title="Accord", version=__version__, description=DESCRIPTION, lifespan=lifespan, telemetry=telemetry
    )
    app.state.hub = hub
    problems.install(app)
    openapi.install(app)
    for module in (auth, bodies, officers, agreements, access, register):
        app.include_router(module.router)
    for path in purposes().api_routers:  # each purpose's routes, as its package registers them
        app.include_router(resolve(path))
    app.include_router(audit.public)
    app.include_router(audit.private)
    from accord import web
    from accord.web import rendering

    web.install(app)
    app.add_middleware(RequestLimits, routes=app.router.routes)  # each body limited by its route
    pages_env = app.state.pages.env
    policy = headers.page_policy(rendering.template_script_hashes(pages_env), headers.origin_of(hub.settings.oidc_issuer))
    app.add_middleware(headers.SecurityHeaders, policy=policy,
                       hashes_of=lambda html: [rendering.csp_hash(s) for s in rendering.inline_scripts(html)])
    return app
