"""Bash completion (deploy/vmpipe.bash-completion): sourced in a real bash,
asked as bash asks (COMP_WORDS/COMP_CWORD, then the function), for commands,
options and job ids read from a state directory."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, VMPIPE, write
from test_queue_cli import CID, CID2, failed_job, pipeline

SCRIPT = os.path.join(ROOT, "deploy", "vmpipe.bash-completion")

pytestmark = pytest.mark.skipif(not shutil.which("bash"), reason="no bash")


def complete(words, tmp):
    """COMPREPLY for the command line `words` (the last one being completed)."""
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    if not (bindir / "vmpipe").exists():
        os.symlink(VMPIPE, bindir / "vmpipe")
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    script = f"""source {SCRIPT}
COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}
_vmpipe
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", VMPIPE_SPOOL="", VMPIPE_PIPELINE="")
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                       env=env, cwd=tmp, timeout=60)
    assert p.returncode == 0, p.stderr
    return sorted(x for x in p.stdout.splitlines() if x)


def test_commands_and_options(tmp_path):
    assert complete(["vmpipe", "st"], tmp_path) == ["status"]
    assert complete(["vmpipe", "re"], tmp_path) == ["requeue", "retry"]
    assert "--version" in complete(["vmpipe", "--"], tmp_path)
    opts = complete(["vmpipe", "status", "--"], tmp_path)
    assert {"--failed", "--waiting", "--stage", "--older-than", "--config", "--spool"} <= set(opts)
    assert complete(["vmpipe", "-v", "requeue", "--re"], tmp_path) == ["--rejected"]
    assert complete(["vmpipe", "--log-format", "j"], tmp_path) == ["json"]


def test_job_ids(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir)
    failed_job(tmp_path, ini, CID)
    failed_job(tmp_path, ini, CID2)
    # A done job: shown by show/delete, not offered to retry.
    state = tmp_path / "lib" / "state"
    rec = json.load(open(state / f"{CID2}.json"))
    rec["state"] = "done"
    write(state / f"{CID2}.json", json.dumps(rec))
    (tmp_path / "spool").mkdir()
    assert complete(["vmpipe", "show", "-c", str(ini), "5e7e"], tmp_path) == [CID, CID2]
    assert complete(["vmpipe", "retry", "-c", str(ini), ""], tmp_path) == [CID]
    assert complete(["vmpipe", "delete", "--config", str(ini), CID[:-1]], tmp_path) == [CID, CID2]
    assert complete(["vmpipe", "show", "-c", str(ini), "zz"], tmp_path) == []
