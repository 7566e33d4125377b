"""Durable background jobs: queued in the database, run in chunks, resumed after a crash.

A job is a row in ``jobs`` plus files under ``<data_dir>/jobs/<id>/``: the
validated input, one part file per finished chunk, then the result. Workers
run in the server process (``Worker``, started in the app's lifespan) and in
separate ``accord jobs work`` processes; any number of them may share one
database.

Claiming. A worker takes the oldest job that is queued, or running under a
lease that has run out (its worker died), with the one leased-work claim
(``storage.leases``) that webhook deliveries use too: one UPDATE that chooses
and claims, repeating the claim condition, so two workers can never both win.

Leases and heartbeat. A claim holds the job until ``lease_expires_at``; while
the job runs, a heartbeat thread extends the lease every third of its length.
Every write a worker makes to its job is conditional on still holding the lease
(``lease_owner``), so a worker that lost its lease (paused past it, or presumed
dead) can never overwrite what the worker that took over has done.

Chunks and checkpoints. The input is cut into chunks of ``chunk_rows`` rows,
fixed when the job is submitted. A chunk's results are written to its own part
file (to a temporary name, then renamed), and then the checkpoint is advanced
in one committed UPDATE: the checkpoint is the commit point. A worker that dies
after writing a part but before advancing the checkpoint leaves a part that the
next worker simply writes again, identically; parts at or beyond the checkpoint
are never read. So a resumed job neither duplicates nor loses a row.

Cancellation is cooperative: a queued job (or one whose worker died) is
cancelled at once; a running one is asked to stop, and its worker checks
between chunks, then deletes the partial results. A job that has been claimed
``job_max_attempts`` times without finishing is failed for good.

Each kind of job is registered by its purpose package (``services.purposes``) as
a function ``start(hub, job) -> Work``: ``Work.process(index)`` writes chunk
``index``'s part and returns its row count; ``Work.finish(session, job, now)``
assembles the result and sets the job's final state in the worker's last transaction.

The package: ``queue`` (creating, claiming, leases, cancelling), ``runner`` (running
a claimed job chunk by chunk; the worker), ``views`` (what a body sees of its job),
``files`` and ``retention`` (results kept no longer than the agreement allows).
"""

from accord.lazy import exports

__all__, __getattr__ = exports(__name__, {
    "job_dir": "files", "jobs_root": "files", "new_job_id": "files", "part_path": "files",
    "delete_work_files": "files",
    "LeaseLost": "queue", "create": "queue", "claim": "queue", "cancel": "queue", "renew_lease": "queue",
    "advance": "queue", "held_by": "queue",
    "Gone": "views", "view": "views", "visible_job": "views", "list_jobs": "views", "result_file": "views",
    "status_key": "views", "status_page_path": "views", "job_by_status_key": "views",
    "Work": "runner", "Worker": "runner", "Heartbeat": "runner", "run_claimed": "runner", "run_pending": "runner",
    "worker_name": "runner",
    "expire_results": "retention", "sweep_orphans": "retention", "ORPHAN_AGE": "retention",
})
