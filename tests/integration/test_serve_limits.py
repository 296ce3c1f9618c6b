"""`vmpipe serve` and the limit on open files.

Every job in flight holds its claim: the flock()ed ID.lock in the state
directory, one descriptor per job.  Services start with a soft limit of 1024
open files (systemd's default, kept low for select(); the hard limit is far
higher), so a serve that keeps the soft limit cannot hold more than about a
thousand voicemails: past it, claims, checkpoints and sockets all fail with
EMFILE.  serve raises its soft limit to the hard one at start.
"""
import resource

import pytest

from serve_helpers import Serve, wait_until
from test_serve import cid, enqueue, mails, pipeline, recording

SOFT = 64      # a small soft limit stands for 1024: the same wall, reached sooner
JOBS = 80      # more jobs than SOFT descriptors


def low_soft_limit():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT, hard))


@pytest.mark.skipif(resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 4 * JOBS,
                    reason="the hard limit on open files is too low to raise to")
def test_more_jobs_in_flight_than_the_soft_limit_on_open_files(tmp_path):
    spool = tmp_path / "spool"
    ini = pipeline(tmp_path)
    # Wrappers (valgrind) take descriptors of their own from the limit.
    srv = Serve(ini, spool, preexec_fn=low_soft_limit, wrapper=False).ready()
    try:
        for n in range(JOBS):
            enqueue(tmp_path, spool, cid(n))
        # Every one accepted and waiting for its recording, each holding its
        # claim (or, at the limit, claims refused with EMFILE).
        wait_until(f"{JOBS} jobs accepted", lambda: srv.saw("Too many open files") or
                   sum(e.get("msg") == "accepted" for e in srv.logs()) >= JOBS)
        assert not srv.saw("Too many open files"), srv.text()[-2000:]
        for n in range(JOBS):
            recording(tmp_path, cid(n))
        wait_until(f"{JOBS} mails", lambda: len(mails(tmp_path)) == JOBS)
        srv.wait_log("done in", JOBS)
    finally:
        rc = srv.stop()   # a failed test leaves no serve behind
    assert rc == 0
