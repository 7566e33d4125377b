"""The durable job runner on SQLite and PostgreSQL: claims, leases, resuming after a crash
(a worker process killed with SIGKILL, and a lease abandoned in process), cancelling, giving up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from eligibility_support import CUSTOMERS, SUPPLIER, job_dirs, job_row, submit_job, tuned
from sqlalchemy import update

from accord.clock import utcnow
from accord.errors import Conflict
from accord.runtime import Hub
from accord.services import eligibility, jobs
from accord.storage.tables.jobs import Job

ACCORD = Path(sys.executable).with_name("accord")


def submit(hub: Hub, synth: Path, chunk_rows: int) -> str:
    return submit_job(hub, synth / CUSTOMERS, chunk_rows=chunk_rows)["id"]


def result_rows(hub: Hub, job_id: str) -> list[str]:
    return jobs.result_file(hub, job_id, SUPPLIER).read_text(encoding="utf-8").splitlines()


def expire_lease(hub: Hub, job_id: str) -> None:
    with hub.transaction() as session:
        session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow() - timedelta(seconds=1)))


class Crash(BaseException):
    """Stands in for a worker dying between two chunks: nothing after it runs."""


def test_an_abandoned_lease_is_resumed_from_its_checkpoint_without_duplicating_rows(seeded: Hub, synth: Path) -> None:
    reference = submit(seeded, synth, 1000)
    jobs.run_pending(seeded)
    expected = result_rows(seeded, reference)

    job_id = submit(seeded, synth, 200)  # 13 chunks
    assert jobs.claim(seeded, "worker-a") == job_id

    def die_after_four(index: int) -> None:
        if index == 3:
            raise Crash

    with pytest.raises(Crash):
        jobs.run_claimed(seeded, job_id, "worker-a", on_chunk=die_after_four)
    crashed = job_row(seeded, job_id)
    assert crashed.state == "running" and crashed.lease_owner == "worker-a" and crashed.checkpoint == 4
    assert crashed.done == 800
    # a part beyond the checkpoint, as a worker that died after writing but before committing leaves it
    directory = jobs.job_dir(seeded, job_id)
    jobs.part_path(directory, 4).write_bytes(b"half-written garbage")

    assert jobs.claim(seeded, "worker-b") is None  # the lease still holds
    expire_lease(seeded, job_id)
    assert jobs.claim(seeded, "worker-b") == job_id
    processed: list[int] = []
    assert jobs.run_claimed(seeded, job_id, "worker-b", on_chunk=processed.append) == "succeeded"
    assert processed == list(range(4, 13))  # resumed at the checkpoint, not from the start
    job = job_row(seeded, job_id)
    assert job.attempts == 2 and job.done == job.total == 2416 and job.lease_owner is None
    rows = result_rows(seeded, job_id)
    assert rows == expected  # same answers, same order: none lost, none twice
    refs = [line.split(",")[0] for line in rows[1:]]
    assert len(refs) == len(set(refs)) == 2416


def test_a_worker_killed_with_sigkill_is_resumed_by_another(seeded: Hub, synth: Path) -> None:
    reference = submit(seeded, synth, 1000)
    jobs.run_pending(seeded)
    expected = result_rows(seeded, reference)
    job_id = submit(seeded, synth, 30)  # 81 small chunks: the kill lands mid-job
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env.update(
        ACCORD_DATA_DIR=str(seeded.settings.data_dir),
        ACCORD_DATABASE_URL=seeded.settings.resolved_database_url,
        ACCORD_ENVIRONMENT="test",
        ACCORD_JOB_LEASE_SECONDS="3",
        ACCORD_JOB_POLL_SECONDS="0.1",
    )
    worker = subprocess.Popen([str(ACCORD), "jobs", "work", "--name", "doomed"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            job = job_row(seeded, job_id)
            if job.checkpoint >= 3 or worker.poll() is not None:
                break
            time.sleep(0.01)
        assert worker.poll() is None, worker.stderr.read().decode()
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    killed = job_row(seeded, job_id)
    assert killed.state == "running" and killed.lease_owner == "doomed", (killed.state, killed.checkpoint)
    assert 3 <= killed.checkpoint < killed.chunks
    assert jobs.claim(seeded, "rescuer") is None  # not before the dead worker's lease runs out
    time.sleep(max(0.0, (killed.lease_expires_at - utcnow()).total_seconds()) + 0.2)
    assert jobs.claim(seeded, "rescuer") == job_id
    processed: list[int] = []
    assert jobs.run_claimed(seeded, job_id, "rescuer", on_chunk=processed.append) == "succeeded"
    assert processed[0] == killed.checkpoint and processed[-1] == killed.chunks - 1
    assert result_rows(seeded, job_id) == expected
    assert job_row(seeded, job_id).attempts == 2


def test_a_worker_that_lost_its_lease_cannot_write(seeded: Hub, synth: Path) -> None:
    job_id = submit(seeded, synth, 500)
    assert jobs.claim(seeded, "slow") == job_id
    expire_lease(seeded, job_id)
    assert jobs.claim(seeded, "fast") == job_id
    with pytest.raises(jobs.LeaseLost):
        jobs.advance(seeded, job_id, "slow", 1, 500)
    assert not jobs.renew_lease(seeded, job_id, "slow")
    assert jobs.run_claimed(seeded, job_id, "slow") == "lost"
    assert jobs.run_claimed(seeded, job_id, "fast") == "succeeded"


def test_a_claim_takes_the_oldest_job_and_leaves_the_rest_queued(seeded: Hub, synth: Path) -> None:
    first, second = submit(seeded, synth, 5000), submit(seeded, synth, 5000)
    assert jobs.claim(seeded, "one") == first
    assert job_row(seeded, first).lease_owner == "one"
    waiting = job_row(seeded, second)
    assert waiting.state == "queued" and waiting.lease_owner is None and waiting.attempts == 0
    assert jobs.claim(seeded, "two") == second


def test_workers_racing_for_jobs_each_get_a_different_one(seeded: Hub, synth: Path) -> None:
    queued = {submit(seeded, synth, 5000) for _ in range(3)}
    won: list[str | None] = []
    start = threading.Barrier(6)

    def race(name: str) -> None:
        start.wait()
        won.append(jobs.claim(seeded, name))

    threads = [threading.Thread(target=race, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    claimed = [job_id for job_id in won if job_id is not None]
    assert sorted(claimed) == sorted(queued)  # every job once, none twice
    owners = {job_row(seeded, job_id).lease_owner for job_id in queued}
    assert len(owners) == 3


def test_a_job_whose_worker_keeps_dying_is_failed_after_the_last_attempt(seeded: Hub, synth: Path) -> None:
    with tuned(seeded, job_max_attempts=2) as hub:
        job_id = submit(hub, synth, 500)
        for attempt in (1, 2):
            assert jobs.claim(hub, f"w{attempt}") == job_id
            expire_lease(hub, job_id)
        assert jobs.claim(hub, "w3") is None
        job = job_row(hub, job_id)
        assert job.state == "failed" and "started 2 times" in job.error and job.attempts == 2
        assert job_dirs(hub) == []


def test_cancelling_a_queued_job_stops_it_at_once(seeded: Hub, synth: Path) -> None:
    job_id = submit(seeded, synth, 500)
    assert job_dirs(seeded) == [job_id]
    view = jobs.cancel(seeded, job_id, SUPPLIER)
    assert view["state"] == "cancelled" and job_dirs(seeded) == []
    assert jobs.run_pending(seeded) == []
    assert jobs.cancel(seeded, job_id, SUPPLIER)["state"] == "cancelled"  # again: still cancelled
    with pytest.raises(Conflict, match="cancelled"):
        jobs.result_file(seeded, job_id, SUPPLIER)


def test_cancelling_a_running_job_stops_it_between_chunks_and_deletes_partial_results(
    seeded: Hub, synth: Path
) -> None:
    job_id = submit(seeded, synth, 200)
    assert jobs.claim(seeded, "w") == job_id
    processed: list[int] = []

    def cancel_after_second(index: int) -> None:
        processed.append(index)
        if index == 1:
            assert jobs.cancel(seeded, job_id, SUPPLIER)["state"] == "running"  # asked, not yet stopped
            assert list((jobs.job_dir(seeded, job_id) / "parts").iterdir())

    assert jobs.run_claimed(seeded, job_id, "w", on_chunk=cancel_after_second) == "cancelled"
    assert processed == [0, 1]  # the next chunk's end saw the request
    job = job_row(seeded, job_id)
    assert job.state == "cancelled" and job.result_location is None and job.finished_at is not None
    assert job_dirs(seeded) == []  # partial results, upload and DWP's prepared records all deleted
    with pytest.raises(Conflict):
        jobs.result_file(seeded, job_id, SUPPLIER)


def test_a_finished_job_cannot_be_cancelled(seeded: Hub, synth: Path) -> None:
    job_id = submit(seeded, synth, 5000)
    jobs.run_pending(seeded)
    with pytest.raises(Conflict, match="already succeeded"):
        jobs.cancel(seeded, job_id, SUPPLIER)
    assert result_rows(seeded, job_id)


def test_a_worker_told_to_stop_gives_the_job_back_without_using_an_attempt(seeded: Hub, synth: Path) -> None:
    job_id = submit(seeded, synth, 100)
    with tuned(seeded, job_poll_seconds=0.05) as hub:
        worker = jobs.Worker(hub, "stopping")
        worker.start()
        deadline = time.monotonic() + 30
        while job_row(hub, job_id).checkpoint < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        worker.stop()
    job = job_row(seeded, job_id)
    if job.state == "succeeded":  # a fast machine finished first: nothing to give back
        return
    assert job.state == "queued" and job.lease_owner is None and job.attempts == 0 and job.checkpoint >= 2
    done_before = job.checkpoint
    processed: list[int] = []
    assert jobs.claim(seeded, "next") == job_id
    assert jobs.run_claimed(seeded, job_id, "next", on_chunk=processed.append) == "succeeded"
    assert processed[0] == done_before


def test_orphaned_uploads_and_leftover_work_files_are_swept(seeded: Hub, synth: Path) -> None:
    staged = eligibility.stage(seeded, synth / CUSTOMERS, "parquet")  # a submission that never became a job
    assert job_dirs(seeded) == [staged.job_id]
    assert jobs.sweep_orphans(seeded) == 0  # too recent: it may still be becoming a job
    assert jobs.sweep_orphans(seeded, utcnow() + jobs.ORPHAN_AGE + timedelta(minutes=1)) == 1
    assert job_dirs(seeded) == []
