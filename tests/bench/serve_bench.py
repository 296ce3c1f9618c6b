#!/usr/bin/python3
"""`vmpipe serve` measured (issue 11, "Measure"), each figure beside what it
is compared to, in one run.  Prints one JSON object; its "rows" are the lines
bench.py adds to its table.

waiting     BENCH_SERVE_WAITING (10,000) voicemails in flight, each waiting on
            the fake Transcribe: peak RSS (goal <= 64 MB), threads (goal
            <= 8 + workers), open descriptors, RSS per waiting job and the
            share of it that is the job's record (jansson, measured by parsing
            the checkpoint the job left).  The S3 fake holds every recording,
            so each job lists it, starts its Transcribe job and waits: the fake
            keeps jobs IN_PROGRESS for an hour and the pipeline polls every 10
            minutes, so while the samples are taken every job is a record and
            a timer, as in production between two polls (10,000 jobs polling
            every few seconds would measure the Python fake, not the engine).
            Taken when the metrics say all of them wait and Transcribe has
            answered "not yet" to each.  Then SIGTERM (every job checkpointed)
            and a restart: how long until serve takes work again (resume).
cpu         Steady-state engine CPU per voicemail, no speech engine, against
            one `vmpipe run` process per voicemail.  First bench.py's
            engine_per_job pipeline (locate-file -> notify-file, log level
            error) with the spool on tmpfs and on disk; then etc/pipeline.ini's
            plugins through the AWS fakes (log level warn), spool on disk.
            CPU is utime + stime of the serve process (all its threads, system
            calls and fsyncs included) from /proc/PID/stat across a batch,
            after a warm-up batch; the fakes and the event writer are other
            processes and are not counted; `vmpipe run` is counted whole
            (wait4), as engine_per_job does.  Median of BENCH_SERVE_REPEATS
            (3) batches of BENCH_SERVE_BATCH (200; BENCH_SERVE_DISK_BATCH, 100,
            on disk).
throughput  Voicemails per second through the AWS fakes, one host, spool
            intake on disk: a batch written to SPOOL/new at once, timed until
            its last job is done; beside one `vmpipe run` per voicemail with
            BENCH_SERVE_PROCS (16) at a time.  The fakes' CPU per voicemail is
            reported too: they share the machine's cores with the engine.
soak        BENCH_SOAK_VOICEMAILS (1,000) voicemails handed over with `vmpipe
            enqueue` (spread over the soak) to the AWS pipeline on fakes that
            answer BENCH_SOAK_FAULTS (30%) of requests with a 503, throttling
            or a connection reset, while `vmpipe serve` is killed with SIGKILL
            every 0.2-2 s (seeded: BENCH_SOAK_SEED) and started again, at
            least BENCH_SOAK_KILLS (50) times and until every voicemail is
            done.  Counted from the SES fake: voicemails never mailed (lost)
            and mailed more than once; a second copy is "in the SES window"
            when the run that sent it logged that an earlier attempt was cut
            off while sending (SES has no idempotency token: the window
            docs/aws-plugins.md names).  The spool is on tmpfs: kill -9 ends
            the process, not the kernel, so what was written survives with or
            without fsync, and restarts stay cheap enough for the soak to take
            minutes (resume on disk is measured by "cpu").

The machine's load is not controlled: figures are medians where noise
matters.  BENCH_SERVE_ONLY=waiting,cpu,aws,soak runs some parts only.

usage: serve_bench.py [BUILD_DIR]
"""
import ctypes
import ctypes.util
import glob
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import serve_world as W  # noqa: E402

ROOT = W.ROOT
ENV = os.environ.get
WAITING = int(ENV("BENCH_SERVE_WAITING", "10000"))
BATCH = int(ENV("BENCH_SERVE_BATCH", "200"))
DISK_BATCH = int(ENV("BENCH_SERVE_DISK_BATCH", "100"))
REPEATS = int(ENV("BENCH_SERVE_REPEATS", "3"))
RUNS = int(ENV("BENCH_SERVE_RUNS", "15"))
PROCS = int(ENV("BENCH_SERVE_PROCS", "16"))
WORKERS = int(ENV("BENCH_SERVE_WORKERS", "2"))
RESUME = int(ENV("BENCH_SERVE_RESUME", "300"))
SOAK_N = int(ENV("BENCH_SOAK_VOICEMAILS", "1000"))
SOAK_KILLS = int(ENV("BENCH_SOAK_KILLS", "50"))
SOAK_FAULTS = float(ENV("BENCH_SOAK_FAULTS", "0.3"))
SOAK_SEED = int(ENV("BENCH_SOAK_SEED", "11"))
# The AWS client sleeps out its retry backoff on the worker thread (see
# "throughput_faults"): with 30% faults two workers manage about 2
# voicemails/s, and the soak would take ten minutes.  It measures durability,
# so it runs with more workers.
SOAK_WORKERS = int(ENV("BENCH_SOAK_WORKERS", "16"))
FAULT_BATCH = int(ENV("BENCH_SERVE_FAULT_BATCH", "30"))
SOAK_MIN_S, SOAK_MAX_S = 0.2, 2.0     # between two kills
GOAL_RSS_MB, GOAL_CPU_MS = 64, 2.0
SHM = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
WARM = 20


def median(xs):
    return statistics.median(xs) if xs else None


def run_cpu(cmd, env):
    """Run cmd to its end: (CPU s of it, wall s)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    err = p.stderr.read()
    p.stderr.close()
    _, status, ru = os.wait4(p.pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} exit {rc}: {err.decode(errors='replace')[-1500:]}")
    return ru.ru_utime + ru.ru_stime, time.perf_counter() - t0


def done_count(srv):
    return int(srv.counter('vmpipe_jobs_total{outcome="done"}'))


def batch(srv, spool, contacts, seen):
    """Hand `contacts` to the spool at once and wait until all are done:
    {user, sys, wall} seconds."""
    (u0, s0), t0 = srv.cpu_split(), time.perf_counter()
    for c in contacts:
        W.spool_put(spool, c, W.connect_event(c))
    want = seen + len(contacts)
    W.wait_until(f"{want} jobs done", lambda: done_count(srv) >= want, every=0.1)
    u1, s1 = srv.cpu_split()
    return {"user": u1 - u0, "sys": s1 - s0, "wall": time.perf_counter() - t0}


def contacts_for(run, size):
    """The warm-up batch, then REPEATS batches of `size`: lists of contact ids."""
    return [[W.cid(n, run) for n in range(WARM)]] + [
        [W.cid(n, run + 1 + r) for n in range(size)] for r in range(REPEATS)]


def serve_batches(srv, spool, batches):
    """Run the warm-up batch, then measure the others: [{user, sys, wall}]."""
    seen, out = 0, []
    for i, cs in enumerate(batches):
        got = batch(srv, spool, cs, seen)
        seen += len(cs)
        if i:
            out.append(got)
    return out


def per_voicemail(got, size):
    """Median CPU ms per voicemail over the batches, with its user/sys split."""
    tot = [(g["user"] + g["sys"]) * 1000 / size for g in got]
    mid = sorted(range(len(got)), key=lambda i: tot[i])[len(got) // 2]
    return {"cpu_ms": round(median(tot), 3), "cpu_ms_runs": [round(t, 3) for t in tot],
            "user_ms": round(got[mid]["user"] * 1000 / size, 3),
            "sys_ms": round(got[mid]["sys"] * 1000 / size, 3)}


def ready_time(build, ini, spool, env, log, level, jobs):
    """Start serve on a spool holding `jobs` jobs in flight: (seconds until
    every one is back, waiting or running; seconds until it answered its
    metrics; serve).  The two differ: serve takes its spool in slices with
    the loop turning in between, and answers from its own HTTP threads."""
    t0 = time.perf_counter()
    srv = W.Serve(build, ini, spool, env, log, workers=WORKERS, metrics_port=W.free_port(),
                  level=level).wait_ready()
    ready = time.perf_counter() - t0

    def back():
        m = srv.samples()
        return m.get('vmpipe_jobs{state="waiting"}', 0) + m.get('vmpipe_jobs{state="running"}', 0) >= jobs
    W.wait_until(f"{jobs} jobs back after the restart", back, every=0.02)
    return time.perf_counter() - t0, ready, srv


# ------------------------------------------------------------------ waiting

def jansson_bytes(text, copies=2000):
    """Heap bytes one parsed copy of `text` takes in jansson: glibc's
    mallinfo2() before and after parsing `copies` copies (malloc's chunk
    overhead included, as in the engine)."""
    lib = ctypes.CDLL(ctypes.util.find_library("jansson"))
    libc = ctypes.CDLL(None)

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                                                   "hblkhd", "usmblks", "fsmblks", "uordblks",
                                                   "fordblks", "keepcost")]
    libc.mallinfo2.restype = MallInfo2
    lib.json_loads.restype = ctypes.c_void_p
    lib.json_loads.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p]
    lib.json_delete.argtypes = [ctypes.c_void_p]
    data = text.encode()
    keep = (ctypes.c_void_p * copies)()
    before = libc.mallinfo2().uordblks
    for i in range(copies):
        keep[i] = lib.json_loads(data, 0, None)
    after = libc.mallinfo2().uordblks
    for i in range(copies):
        lib.json_delete(keep[i])   # each has one reference: what json_decref would free
    return (after - before) / copies


def bench_waiting(build):
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < WAITING + 200:
        # serve raises its soft limit to this; each job in flight holds a descriptor.
        raise RuntimeError(f"the hard limit on open files ({hard}) is below {WAITING} jobs: "
                           "raise it (ulimit -Hn) or set BENCH_SERVE_WAITING")
    with tempfile.TemporaryDirectory(dir=SHM, prefix="servebench") as tmp:
        contacts = [W.cid(n, 1) for n in range(WAITING)]
        fakes = W.Fakes(tmp, contacts, transcribe_s=3600)
        srv = None
        try:
            ini = W.aws_pipeline(tmp, build, transcribe_poll="10m", timeout="2h")
            spool = os.path.join(tmp, "spool")
            W.spool_prepare(spool)
            env = fakes.env(tmp)
            log = os.path.join(tmp, "serve.log")
            srv = W.Serve(build, ini, spool, env, log, workers=WORKERS,
                          metrics_port=W.free_port()).wait_ready()
            idle = srv.status()
            c0, t0 = srv.cpu_s(), time.perf_counter()
            for c in contacts:
                W.spool_put(spool, c, W.connect_event(c))
            retry = 'vmpipe_stage_calls_total{stage="transcribe",status="retry"}'
            waiting = 'vmpipe_jobs{state="waiting"}'

            progress = {"at": time.monotonic(), "n": -1.0}

            def all_waiting():
                got = srv.samples()
                n = got.get(retry, 0)
                if n != progress["n"]:
                    progress.update(at=time.monotonic(), n=n)
                elif time.monotonic() - progress["at"] > 120:
                    raise RuntimeError(f"stuck at {n:.0f} of {WAITING} jobs waiting: {got}")
                return n >= WAITING and got.get(waiting, 0) == WAITING
            W.wait_until(f"{WAITING} jobs waiting on Transcribe", all_waiting, every=0.5)
            took, cpu = time.perf_counter() - t0, srv.cpu_s() - c0
            samples = []
            for _ in range(5):
                samples.append(srv.status())
                time.sleep(0.3)
            rc = srv.stop()   # SIGTERM: every job checkpointed as it is in memory
            srv = None
            records = sorted(glob.glob(os.path.join(spool, "state", "*.json")))
            with open(records[len(records) // 2]) as f:
                rec_text = f.read()
            rec_heap = jansson_bytes(rec_text)
            resume_s, ready_s, srv = ready_time(build, ini, spool, env, log, "warn", WAITING)
            m = srv.samples()   # one scrape: a job moves from running to waiting
            resumed = int(m.get('vmpipe_jobs{state="waiting"}', 0)
                          + m.get('vmpipe_jobs{state="running"}', 0))
            rc2 = srv.stop()
            srv = None
            fs = W.fs_type(spool)
        finally:
            if srv:
                srv.kill9()
            fakes.stop()
    rss = max(s["VmRSS"] for s in samples)
    hwm = max(s["VmHWM"] for s in samples)
    threads = max(s["Threads"] for s in samples)
    per_job = (rss - idle["VmRSS"]) / WAITING
    return {
        "jobs_waiting": WAITING,
        "workers": WORKERS,
        "spool_fs": fs,
        "peak_rss_mb": round(hwm / 1024, 1),
        "goal_rss_mb": GOAL_RSS_MB,
        "rss_ratio_over_goal": round(hwm / 1024 / GOAL_RSS_MB, 2),
        "goal_rss_met": hwm / 1024 <= GOAL_RSS_MB,
        "idle_rss_mb": round(idle["VmRSS"] / 1024, 1),
        "rss_per_waiting_job_kib": round(per_job, 2),
        "rss_per_job_for_goal_kib": round((GOAL_RSS_MB * 1024 - idle["VmRSS"]) / WAITING, 2),
        "record_json_bytes": len(rec_text.encode()),
        # What the record would take as a jansson tree; a job waiting on a
        # timer keeps it as its JSON text instead (sched.c freeze()).
        "record_tree_kib": round(rec_heap / 1024, 2),
        "threads": threads,
        "goal_threads": 8 + WORKERS,
        "goal_threads_met": threads <= 8 + WORKERS,
        "open_fds": max(s["fds"] for s in samples),
        "open_fds_idle": idle["fds"],
        "intake_s": round(took, 1),
        "intake_cpu_ms_per_job": round(cpu * 1000 / WAITING, 3),
        "resume_s": round(resume_s, 2),
        "ready_s": round(ready_s, 2),
        "resumed_jobs": resumed,
        "stop_exits": [rc, rc2],
    }


# ------------------------------------------------------------------ cpu: locate-file

def file_world(tmp, build, contacts, wait=None):
    """Recordings for `contacts` (hard links of the sample) and bench.py's
    engine_per_job pipeline (`wait`: locate-file's, for jobs left waiting)."""
    rec, out = os.path.join(tmp, "rec"), os.path.join(tmp, "out")
    os.makedirs(rec)
    os.makedirs(out)
    sample = glob.glob(os.path.join(ROOT, "samples", "recordings", "*.wav"))[0]
    first = os.path.join(rec, os.path.basename(sample))  # the sample event's own recording
    shutil.copy(sample, first)
    for c in contacts:
        os.link(first, os.path.join(rec, c + ".wav"))
    ini = os.path.join(tmp, "notranscribe.ini")
    with open(ini, "w") as f:
        f.write(f"[pipeline]\nplugin_dir = {build}/plugins\n[locate]\nplugin = locate-file\n"
                f"dir = {rec}\npattern = {{initial_contact_id}}.wav\nsettle = 0s\n"
                + (f"wait = {wait}\n" if wait else "")
                + f"[notify]\nplugin = notify-file\ndir = {out}\n")
    return ini


def quiet_env(level):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMPIPE_")}
    env["VMPIPE_LOG_LEVEL"] = level
    return env


def serve_files(build, where, size):
    """serve on the engine_per_job pipeline, spool in `where` (None: TMPDIR)."""
    with tempfile.TemporaryDirectory(dir=where, prefix="servebench") as tmp:
        batches = contacts_for(10, size)
        ini = file_world(tmp, build, [c for b in batches for c in b])
        spool = os.path.join(tmp, "spool")
        W.spool_prepare(spool)
        srv = W.Serve(build, ini, spool, quiet_env("error"), os.path.join(tmp, "serve.log"),
                      workers=WORKERS, metrics_port=W.free_port(), level="error").wait_ready()
        try:
            got = serve_batches(srv, spool, batches)
        finally:
            rc = srv.stop()
        out = per_voicemail(got, size)
        out.update({"spool_fs": W.fs_type(spool), "batch": size, "stop_exit": rc})
        return out


def resume_on_disk(build):
    """RESUME jobs waiting for their recordings, SIGTERM, start again: how long
    the start takes on a disk (each resumed job's checkpoint is written and
    fsynced before the loop runs)."""
    with tempfile.TemporaryDirectory(prefix="servebench") as tmp:
        ini = file_world(tmp, build, [], wait="1h")
        spool = os.path.join(tmp, "spool")
        W.spool_prepare(spool)
        log = os.path.join(tmp, "serve.log")
        env = quiet_env("warn")
        srv = W.Serve(build, ini, spool, env, log, workers=WORKERS, metrics_port=W.free_port(),
                      level="warn").wait_ready()
        try:
            for n in range(RESUME):
                c = W.cid(n, 9)
                W.spool_put(spool, c, W.connect_event(c))
            W.wait_until(f"{RESUME} jobs waiting",
                         lambda: srv.counter('vmpipe_jobs{state="waiting"}') == RESUME)
            srv.stop()
            took, ready, srv = ready_time(build, ini, spool, env, log, "warn", RESUME)
        finally:
            srv.stop()
        return {"jobs": RESUME, "spool_fs": W.fs_type(spool), "resume_s": round(took, 2),
                "ready_s": round(ready, 2),
                "resume_ms_per_job": round(took * 1000 / RESUME, 2)}


def bench_cpu(build):
    """locate-file -> notify-file: serve against one process per voicemail."""
    with tempfile.TemporaryDirectory(prefix="servebench") as tmp:
        ini = file_world(tmp, build, [])
        event = os.path.join(ROOT, "samples", "connect-event.json")
        env = quiet_env("error")
        ref = [run_cpu([os.path.join(build, "vmpipe"), "run", "-c", ini, event], env)[0]
               for _ in range(RUNS)]
    theirs = median(ref) * 1000
    out = {"what": "locate-file -> notify-file (bench.py's engine_per_job pipeline), log level "
                   "error",
           "vmpipe_run_cpu_ms": round(theirs, 2), "vmpipe_runs": RUNS,
           "goal_cpu_ms": GOAL_CPU_MS}
    for name, where, size in (("tmpfs", SHM, BATCH), ("disk", None, DISK_BATCH)):
        s = serve_files(build, where, size)
        s["ratio_run_over_serve"] = round(theirs / s["cpu_ms"], 1) if s["cpu_ms"] else None
        s["goal_met"] = s["cpu_ms"] < GOAL_CPU_MS
        out["serve_" + name] = s
    out["resume_disk"] = resume_on_disk(build)
    return out


# ------------------------------------------------------------------ the AWS fakes

def bench_aws(build):
    """The AWS pipeline through the fakes: serve's CPU per voicemail and
    throughput, beside one `vmpipe run` process per voicemail."""
    with tempfile.TemporaryDirectory(prefix="servebench") as tmp:
        batches = contacts_for(20, DISK_BATCH)
        shm_batches = contacts_for(60, BATCH)
        serve_cs = [c for b in batches for c in b]
        shm_cs = [c for b in shm_batches for c in b]
        run_cs = [W.cid(n, 30) for n in range(DISK_BATCH + RUNS)]
        fakes = W.Fakes(tmp, serve_cs + shm_cs + run_cs, transcribe_s=0.0)
        srv = None
        try:
            ini = W.aws_pipeline(tmp, build)
            env = fakes.env(tmp)
            env["VMPIPE_LOG_LEVEL"] = "warn"
            evdir = os.path.join(tmp, "events")
            os.makedirs(evdir)
            for c in run_cs:
                with open(os.path.join(evdir, c + ".json"), "w") as f:
                    json.dump(W.connect_event(c), f)
            vmpipe = os.path.join(build, "vmpipe")

            def one(c):
                return run_cpu([vmpipe, "run", "-c", ini, os.path.join(evdir, c + ".json")], env)
            ref = [one(c) for c in run_cs[DISK_BATCH:]]
            # Today's way on a host: a process per voicemail, PROCS at a time.
            todo, lock, errors = list(run_cs[:DISK_BATCH]), threading.Lock(), []

            def runner():
                while True:
                    with lock:
                        if not todo:
                            return
                        c = todo.pop()
                    try:
                        one(c)
                    except RuntimeError as e:
                        errors.append(str(e))
            t0 = time.perf_counter()
            threads = [threading.Thread(target=runner) for _ in range(PROCS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            procs_wall = time.perf_counter() - t0
            if errors:
                raise RuntimeError(errors[0])

            spool = os.path.join(tmp, "spool")
            W.spool_prepare(spool)
            srv = W.Serve(build, ini, spool, env, os.path.join(tmp, "serve.log"), workers=WORKERS,
                          metrics_port=W.free_port(), level="warn").wait_ready()
            f0 = fakes.cpu_s()
            got = serve_batches(srv, spool, batches)
            fakes_cpu = fakes.cpu_s() - f0
            rc = srv.stop()
            srv = None
            fs = W.fs_type(spool)
            # The same on tmpfs: the engine's own work, without the fsyncs.
            with tempfile.TemporaryDirectory(dir=SHM, prefix="servebench") as shm:
                spool = os.path.join(shm, "spool")
                W.spool_prepare(spool)
                srv = W.Serve(build, ini, spool, env, os.path.join(shm, "serve.log"),
                              workers=WORKERS, metrics_port=W.free_port(), level="warn").wait_ready()
                got_shm = serve_batches(srv, spool, shm_batches)
                srv.stop()
                srv = None
                fs_shm = W.fs_type(spool)
            mails = fakes.mails_by_contact()
        finally:
            if srv:
                srv.kill9()
            fakes.stop()
    wrong = [c for c in serve_cs + shm_cs + run_cs if mails.get(c) != 1]
    if wrong:
        raise RuntimeError(f"{len(wrong)} voicemails not mailed exactly once, e.g. {wrong[0]}")
    ours = per_voicemail(got, DISK_BATCH)
    ours_shm = per_voicemail(got_shm, BATCH)
    ref_cpu = median([c for c, _ in ref]) * 1000
    vps = median([DISK_BATCH / g["wall"] for g in got])
    procs_vps = DISK_BATCH / procs_wall
    cpu = {"what": "etc/pipeline.ini's plugins (locate-s3, transcribe-aws, notify-ses) on the "
                   "strict fakes, log level warn",
           "vmpipe_run_cpu_ms": round(ref_cpu, 2), "vmpipe_runs": RUNS, "goal_cpu_ms": GOAL_CPU_MS}
    for name, got_fs, o, size in (("disk", fs, ours, DISK_BATCH),
                                  ("tmpfs", fs_shm, ours_shm, BATCH)):
        o.update({"spool_fs": got_fs, "batch": size,
                  "ratio_run_over_serve": round(ref_cpu / o["cpu_ms"], 1) if o["cpu_ms"] else None,
                  "goal_met": o["cpu_ms"] < GOAL_CPU_MS})
        cpu["serve_" + name] = o
    return {"cpu_aws": cpu, "throughput": {
        "what": f"batches of {DISK_BATCH} written to SPOOL/new at once, until all are done; "
                f"spool on {fs}; {WORKERS} workers",
        "serve_voicemails_per_s": round(vps, 1),
        "serve_runs": [round(DISK_BATCH / g["wall"], 1) for g in got],
        "serve_voicemails_per_s_tmpfs": round(median([BATCH / g["wall"] for g in got_shm]), 1),
        "vmpipe_run_voicemails_per_s": round(procs_vps, 1),
        "vmpipe_run_concurrency": PROCS,
        "ratio_serve_over_run": round(vps / procs_vps, 2),
        "fakes_cpu_ms_per_voicemail": round(fakes_cpu * 1000 / len(serve_cs), 2),
        "stop_exit": rc,
    }}


# ------------------------------------------------------------------ faults

def bench_faults(build):
    """Throughput when the fakes fault SOAK_FAULTS of requests: the AWS client
    retries within a call and sleeps its backoff on the worker thread, so
    WORKERS workers spend most of their time asleep.  Measured with WORKERS
    and with SOAK_WORKERS, with the backoff slept (from the log) per voicemail."""
    out = {"fault_rate": SOAK_FAULTS, "batch": FAULT_BATCH}
    for workers in (WORKERS, SOAK_WORKERS):
        with tempfile.TemporaryDirectory(prefix="servebench") as tmp:
            batches = [[W.cid(n, 50 + workers) for n in range(5)],
                       [W.cid(n, 51 + workers) for n in range(FAULT_BATCH)]]
            fakes = W.Fakes(tmp, [c for b in batches for c in b], transcribe_s=0.0,
                            fault_rate=SOAK_FAULTS, seed=SOAK_SEED)
            srv = None
            try:
                ini = W.aws_pipeline(tmp, build)
                spool = os.path.join(tmp, "spool")
                W.spool_prepare(spool)
                log = os.path.join(tmp, "serve.log")
                srv = W.Serve(build, ini, spool, fakes.env(tmp), log, workers=workers,
                              metrics_port=W.free_port(), level="info").wait_ready()
                got = serve_batches(srv, spool, batches)[0]
                rc = srv.stop()
                srv = None
                slept = 0
                with open(log) as f:
                    for line in f:
                        msg = json.loads(line).get("msg", "")
                        if ", retrying in " in msg:
                            slept += int(msg.split(", retrying in ")[1].split(" ms")[0])
            finally:
                if srv:
                    srv.kill9()
                fakes.stop()
        n = 5 + FAULT_BATCH
        out[f"workers_{workers}"] = {
            "voicemails_per_s": round(FAULT_BATCH / got["wall"], 2),
            "aws_retry_sleep_ms_per_voicemail": round(slept / n, 1),
            "stop_exit": rc,
        }
    return out


# ------------------------------------------------------------------ the soak

def bench_soak(build):
    rng = random.Random(SOAK_SEED)
    with tempfile.TemporaryDirectory(dir=SHM, prefix="servebench") as tmp:
        contacts = [W.cid(n, 40) for n in range(SOAK_N)]
        fakes = W.Fakes(tmp, contacts, transcribe_s=0.0, fault_rate=SOAK_FAULTS, seed=SOAK_SEED)
        srv = None
        try:
            ini = W.aws_pipeline(tmp, build)
            env = fakes.env(tmp)
            spool = os.path.join(tmp, "spool")
            W.spool_prepare(spool)
            logs = os.path.join(tmp, "logs")
            os.makedirs(logs)
            vmpipe = os.path.join(build, "vmpipe")
            # The voicemails arrive over about as long as the kills the soak
            # must see take, so that kills land while they arrive and run.
            feed_s = SOAK_KILLS * (SOAK_MIN_S + SOAK_MAX_S) / 2 * 0.8
            fed, feed_errors = [0], []

            def feeder():
                t0 = time.monotonic()
                for i, c in enumerate(contacts):
                    delay = t0 + feed_s * i / SOAK_N - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    p = subprocess.run([vmpipe, "enqueue", "--spool", spool, "-"],
                                       input=json.dumps(W.connect_event(c)), text=True,
                                       capture_output=True, env=env)
                    if p.returncode != 0:
                        feed_errors.append(p.stderr.strip())
                    fed[0] += 1
            runs, exits, kills, busy_kills = 0, {}, 0, 0

            def start():
                nonlocal runs
                runs += 1
                return W.Serve(build, ini, spool, env, os.path.join(logs, f"{runs:04d}.log"),
                               workers=SOAK_WORKERS, level="info")

            def finished():
                if fed[0] < SOAK_N or any(os.listdir(os.path.join(spool, d)) for d in ("new", "cur")):
                    return False
                st = W.states(spool)
                return st.get("done", 0) + st.get("failed", 0) >= SOAK_N
            t0 = time.monotonic()
            srv = start()
            feed = threading.Thread(target=feeder)
            feed.start()
            while not (finished() and kills >= SOAK_KILLS):
                if time.monotonic() - t0 > W.BOUND:
                    raise RuntimeError(f"soak unfinished after {W.BOUND:.0f} s: {W.states(spool)}")
                end = time.monotonic() + rng.uniform(SOAK_MIN_S, SOAK_MAX_S)
                while time.monotonic() < end and srv.proc.poll() is None:
                    time.sleep(0.01)
                if srv.proc.poll() is not None:
                    rc = srv.wait()     # it ended by itself: a crash
                else:
                    inflight = len(os.listdir(os.path.join(spool, "cur")))
                    rc = srv.kill9()
                    kills += 1
                    busy_kills += inflight > 0
                exits[str(rc)] = exits.get(str(rc), 0) + 1
                srv = start()
            feed.join()
            W.wait_until("the last serve to be up", lambda: srv.proc.poll() is not None
                         or "serving spool" in open(srv.log).read())
            rc = srv.stop()
            srv = None
            exits[str(rc)] = exits.get(str(rc), 0) + 1
            wall = time.monotonic() - t0
            mails = fakes.mails_by_contact()
            reqs = [r for f in fakes.all() for r in f.control("log")]
            final = W.states(spool)
            cut_off, odd_lines = set(), []
            for path in sorted(glob.glob(os.path.join(logs, "*.log"))):
                with open(path) as f:
                    for line in f:
                        try:
                            e = json.loads(line)
                        except ValueError:
                            odd_lines.append(line.strip()[:300])
                            continue
                        if "cut off while sending" in e.get("msg", ""):
                            cut_off.add(e.get("job"))
            left = {d: len(os.listdir(os.path.join(spool, d)))
                    for d in ("new", "cur", "rejected") if os.path.isdir(os.path.join(spool, d))}
            # Half-written checkpoints a kill left behind (ID.json.tmp.PID).
            stray = [n for n in os.listdir(os.path.join(spool, "state"))
                     if not n.endswith(".json") and not n.endswith(".lock")]
        finally:
            if srv:
                srv.kill9()
            fakes.stop()
    known = set(contacts)
    lost = [c for c in contacts if mails.get(c, 0) == 0]
    twice = [c for c in contacts if mails.get(c, 0) > 1]
    in_window = [c for c in twice if c in cut_off]
    return {
        "voicemails": SOAK_N,
        "fault_rate": SOAK_FAULTS,
        "seed": SOAK_SEED,
        "spool_fs": "tmpfs" if SHM else "default",
        "workers": SOAK_WORKERS,
        "kills": kills,
        "kills_with_jobs_in_flight": busy_kills,
        "serve_runs": runs,
        "exit_codes": exits,
        "lost": len(lost),
        "lost_ids": lost[:10],
        "mailed_twice": len(twice),
        "mailed_twice_in_ses_window": len(in_window),
        "mailed_twice_unexplained": len(twice) - len(in_window),
        "twice_ids": twice[:10],
        "extra_mails": sum(mails.get(c, 0) - 1 for c in twice),
        "mails_for_unknown_ids": sum(v for k, v in mails.items() if k not in known),
        "final_states": final,
        "left_in_spool": left,
        "stray_files_in_state": len(stray),
        "stray_examples": stray[:3],
        "enqueue_errors": len(feed_errors),
        "requests": len(reqs),
        "faults_injected": sum(1 for r in reqs if r.get("fault")),
        "non_json_log_lines": odd_lines[:5],
        "wall_s": round(wall, 1),
        "goal_lost": 0,
        "goal_twice": 0,
    }


# ------------------------------------------------------------------ main

def rows(r):
    """What bench.py prints: [what, serve, compared to, ratio]."""
    out = []
    w = r.get("waiting", {})
    if "peak_rss_mb" in w:
        n = w["jobs_waiting"]
        out += [[f"serve: peak RSS, {n} jobs waiting on Transcribe", f"{w['peak_rss_mb']}MB",
                 f"goal {w['goal_rss_mb']}MB", f"{w['rss_ratio_over_goal']}x goal"],
                ["serve: RSS per waiting job (record kept as JSON text)",
                 f"{w['rss_per_waiting_job_kib']}KiB", f"goal {w['rss_per_job_for_goal_kib']}KiB",
                 f"text {w['record_json_bytes']}B, tree {w['record_tree_kib']}KiB"],
                [f"serve: threads, {n} jobs waiting ({w['workers']} workers)", str(w["threads"]),
                 f"goal {w['goal_threads']}", "met" if w["goal_threads_met"] else "NOT met"],
                [f"serve: restart resuming {n} jobs ({w['spool_fs']})", f"{w['resume_s']}s",
                 f"{w['resumed_jobs']} back", f"ready {w['ready_s']}s"]]
    c = r.get("cpu", {})
    for k in ("serve_tmpfs", "serve_disk"):
        if k in c:
            s = c[k]
            out.append([f"serve: CPU/voicemail, no fakes, {s['spool_fs']} (vs run)",
                        f"{s['cpu_ms']:.2f}ms", f"{c['vmpipe_run_cpu_ms']:.2f}ms",
                        f"{s['ratio_run_over_serve']}x"])
    if "resume_disk" in c:
        d = c["resume_disk"]
        out.append([f"serve: restart resuming {d['jobs']} jobs ({d['spool_fs']})",
                    f"{d['resume_s']}s", f"{d['resume_ms_per_job']}ms/job", ""])
    a = r.get("cpu_aws", {})
    for k in ("serve_tmpfs", "serve_disk"):
        if k in a:
            s = a[k]
            out.append([f"serve: CPU/voicemail, AWS fakes, {s['spool_fs']} (vs run)",
                        f"{s['cpu_ms']:.2f}ms", f"{a['vmpipe_run_cpu_ms']:.2f}ms",
                        f"{s['ratio_run_over_serve']}x"])
    t = r.get("throughput", {})
    if "serve_voicemails_per_s" in t:
        out.append([f"serve: voicemails/s, AWS fakes (vs {t['vmpipe_run_concurrency']} runs)",
                    f"{t['serve_voicemails_per_s']}/s", f"{t['vmpipe_run_voicemails_per_s']}/s",
                    f"{t['ratio_serve_over_run']}x"])
    f = r.get("faults", {})
    few, many = f.get(f"workers_{WORKERS}"), f.get(f"workers_{SOAK_WORKERS}")
    if few and many:
        out.append([f"serve: voicemails/s, {round(f['fault_rate'] * 100)}% faults, "
                    f"{WORKERS} (vs {SOAK_WORKERS}) workers", f"{few['voicemails_per_s']}/s",
                    f"{many['voicemails_per_s']}/s",
                    f"{few['aws_retry_sleep_ms_per_voicemail'] / 1000:.1f}s slept"])
    s = r.get("soak", {})
    if "lost" in s:
        out += [[f"soak: lost, {s['voicemails']} vm, {s['kills']} kill -9, "
                 f"{round(s['fault_rate'] * 100)}% faults", str(s["lost"]), "goal 0", ""],
                ["soak: mailed twice (of them in the SES window)",
                 f"{s['mailed_twice']} ({s['mailed_twice_in_ses_window']})", "goal 0", ""]]
    for k, v in r.items():
        if isinstance(v, dict) and "error" in v:
            out.append([f"serve: {k} FAILED", "", "", ""])
    return out


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    build = build if os.path.isabs(build) else os.path.join(ROOT, build)
    result = {"note": "measured on a machine under whatever load it had: medians of repeats "
                      "where noise matters"}
    only = ENV("BENCH_SERVE_ONLY")
    for name, fn in (("waiting", bench_waiting), ("cpu", bench_cpu), ("aws", bench_aws),
                     ("faults", bench_faults), ("soak", bench_soak)):
        if only and name not in only.split(","):
            continue
        t0 = time.monotonic()
        try:
            got = fn(build)
        except Exception as e:  # one part failing must not hide the others
            got = {"error": f"{type(e).__name__}: {e}"[-1500:]}
        if name == "aws" and "error" not in got:
            result.update(got)
        else:
            result[name] = got
        result.setdefault("took_s", {})[name] = round(time.monotonic() - t0, 1)
    result["rows"] = rows(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
