"""The command line: help, version, usage errors, `check` and the `plugins`
listing (generated from the plugins' option tables)."""
import os
import re
import subprocess

import pytest

from conftest import PLUGIN_DIR, ROOT, VMPIPE, run_vmpipe, write

EX_USAGE, EX_CONFIG = 64, 78


def header_version():
    """VMPIPE_VERSION and VMPIPE_ABI_VERSION as the public headers declare them."""
    with open(os.path.join(ROOT, "include/vmpipe/vmpipe.h")) as f:
        ver = re.search(r'#define VMPIPE_VERSION "([^"]+)"', f.read()).group(1)
    with open(os.path.join(ROOT, "include/vmpipe/plugin.h")) as f:
        abi = re.search(r"#define VMPIPE_ABI_VERSION (\d+)u", f.read()).group(1)
    return ver, abi


def good_pipeline(tmp_path, plugdir):
    (tmp_path / "rec").mkdir(exist_ok=True)
    return write(tmp_path / "pipeline.ini", f"""\
[pipeline]
plugin_dir = {plugdir}
[locate]
plugin = locate-file
dir = rec
[notify]
plugin = notify-file
dir = out
""")


@pytest.mark.valgrind
def test_help():
    r = run_vmpipe("--help")
    assert r.code == 0, r
    assert r.out.startswith("usage: vmpipe"), r
    for word in ("run", "check", "plugins", "--version", "exit status"):
        assert word in r.out, f"{word!r} missing from --help: {r.out}"
    assert r.err == "", r
    assert run_vmpipe("-h").out == r.out
    assert run_vmpipe("help").out == r.out


def test_version():
    ver, abi = header_version()
    for flag in ("--version", "-V"):
        r = run_vmpipe(flag)
        assert r.code == 0, r
        assert r.out.strip() == f"vmpipe {ver} (plugin ABI {abi})", r


@pytest.mark.parametrize("cmd,first", [
    ("run", "usage: vmpipe run"),
    ("check", "usage: vmpipe check"),
    ("plugins", "usage: vmpipe plugins"),
])
def test_command_help(cmd, first):
    r = run_vmpipe(cmd, "--help")
    assert r.code == 0, r
    assert r.out.startswith(first), r
    assert "-c" in r.out, r
    r2 = run_vmpipe(cmd, "-h")
    assert r2.code == 0 and r2.out == r.out, r2


def test_run_help_describes_events():
    r = run_vmpipe("run", "--help")
    for what in ("Amazon Connect", "S3", "job record", "standard input"):
        assert what in r.out or what.lower() in r.out, f"{what!r} not in run --help: {r.out}"


def test_unknown_command():
    r = run_vmpipe("frobnicate")
    assert r.code == EX_USAGE, r
    assert "unknown command 'frobnicate'" in r.err, r
    assert "usage: vmpipe" in r.err, r
    assert r.out == "", r


@pytest.mark.parametrize("args,why", [
    ((), "usage: vmpipe"),                                 # no command at all
    (("--frob",), "usage: vmpipe"),                        # unknown global option
    (("run", "--frob"), "usage: vmpipe run"),              # unknown command option
    (("run", "-c", "x.ini", "a.json", "b.json"), "usage: vmpipe run"),  # two events
    (("check", "-c", "x.ini", "extra"), "usage: vmpipe check"),
    (("plugins", "-c", "x.ini", "-d", "/tmp"), "usage: vmpipe plugins"),  # one or the other
    (("--log-format", "xml", "check"), "--log-format must be text or json, not 'xml'"),
])
def test_usage_errors(args, why):
    r = run_vmpipe(*args)
    assert r.code == EX_USAGE, r
    assert why in r.err, r


@pytest.mark.skipif(os.path.exists("/etc/vmpipe/pipeline.ini"),
                    reason="/etc/vmpipe/pipeline.ini is found here")
def test_no_pipeline_given(tmp_path):
    """No -c, VMPIPE_PIPELINE empty, and a vmpipe with no installation or
    source tree around it (a copy in tmp/bin): exit 78 naming every place it
    looked.  (build/vmpipe itself finds the tree's etc/local.ini: test_local.py.)"""
    import shutil
    (tmp_path / "bin").mkdir()
    exe = shutil.copy(VMPIPE, tmp_path / "bin" / "vmpipe")
    env = dict(os.environ, VMPIPE_PIPELINE="", VMPIPE_LOG_FORMAT="text")
    for cmd in ("check", "run"):
        p = subprocess.run([exe, cmd], env=env, input="{}", capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == EX_CONFIG, p
        assert p.stdout == ""
        assert ("no pipeline: give -c PIPELINE or set VMPIPE_PIPELINE; looked in: "
                "$VMPIPE_PIPELINE (not set), /etc/vmpipe/pipeline.ini (No such file or directory), "
                f"{os.path.realpath(tmp_path)}/share/vmpipe/local.ini (No such file or directory)") \
            in p.stderr, p.stderr


@pytest.mark.valgrind
def test_check_good(tmp_path, plugdir):
    ini = good_pipeline(tmp_path, plugdir)
    r = run_vmpipe("check", "-c", ini)
    assert r.code == 0, r
    assert f"{ini}: ok (plugins from {plugdir})" in r.out, r
    assert "[locate] locate-file" in r.out, r
    assert "[notify] notify-file" in r.out, r
    # check starts the plugins (init) in check mode: notify-file's outbox
    # could be made, and is not (test_queue_cli.py has more).
    assert not (tmp_path / "out").exists()


def test_check_from_environment(tmp_path, plugdir):
    ini = good_pipeline(tmp_path, plugdir)
    r = run_vmpipe("check", env={"VMPIPE_PIPELINE": ini})
    assert r.code == 0, r
    assert f"{ini}: ok" in r.out, r


def test_check_names_a_bad_serve_queue(tmp_path, plugdir):
    ini = good_pipeline(tmp_path, plugdir)
    with open(ini, "a") as f:
        f.write("[serve]\nqueue = https://sqs.eu-west-1.amazonaws.com/12345/voicemail\n")
    r = run_vmpipe("check", "-c", ini)
    assert r.code == EX_CONFIG, r
    assert f"{ini}:10: [serve] queue: not an SQS queue URL" in r.err, r
    # A good one passes.
    write(ini, open(ini).read().replace("/12345/", "/123456789012/"))
    r = run_vmpipe("check", "-c", ini)
    assert r.code == 0, r


def test_check_broken(tmp_path, plugdir):
    ini = write(tmp_path / "broken.ini", f"""\
[pipeline]
plugin_dir = {plugdir}
[locate]
plugin = locate-file
dir = rec
wait = a while
[notify]
plugin = notify-file
dir = out
""")
    r = run_vmpipe("check", "-c", ini)
    assert r.code == EX_CONFIG, r
    assert f"{ini}:6: [locate] option 'wait' = 'a while': expected a duration" in r.err, r
    assert "pipeline refused (1 problem)" in r.err, r
    assert r.out == "", r


def test_plugins_listing(plugdir):
    r = run_vmpipe("plugins", "-d", plugdir)
    assert r.code == 0, r
    assert f"plugins in {plugdir}:" in r.out, r
    # A real plugin, straight from its option table: name, kind, summary, option, help, default.
    assert "locate-file (locate)" in r.out, r
    assert re.search(r"^\s+wait\s+duration\s+give up when the file is not there after this "
                     r"\(default: 2m\)$", r.out, re.M), r
    assert re.search(r"^\s+dir\s+string\s+directory the recordings are written to \(required\)$",
                     r.out, re.M), r
    assert "notify-file (notify)" in r.out, r
    # The test plugin with one option of every type.
    assert "test-options (notify)" in r.out, r
    assert re.search(r"^\s+color\s+red\|green\|blue\s+an enum \(default: green\)$", r.out, re.M), r
    assert re.search(r"^\s+max\s+size\s+a size \(default: 64k\)$", r.out, re.M), r
    # Broken plugins in the directory are named on stderr, not listed, and do not stop the listing.
    assert "test-badabi" not in r.out, r
    assert "plugin ABI version 99" in r.err, r
    assert "exports no 'vmpipe_plugin' symbol" in r.err, r


def test_plugins_lists_mail_options(plugdir):
    """notify-file's shared mail options come from the same table (VM_MAIL_OPTIONS)."""
    r = run_vmpipe("plugins", "-d", plugdir)
    block = r.out.split("notify-file (notify)", 1)[1].split("\n\n", 1)[0]
    for opt in ("dir", "from", "to", "subject", "attach", "attach_max"):
        assert re.search(rf"^\s+{opt}\s", block, re.M), f"{opt} not listed for notify-file:\n{block}"
    assert "no|yes|smaller-than" in block, block


def test_plugins_from_pipeline(tmp_path, plugdir):
    ini = good_pipeline(tmp_path, plugdir)
    r = run_vmpipe("plugins", "-c", ini)
    assert r.code == 0, r
    assert f"plugins in {plugdir}:" in r.out, r
    assert "locate-file (locate)" in r.out, r


def test_plugins_default_dir():
    """Without -c or -d: the plugins next to the binary (build/plugins)."""
    r = run_vmpipe("plugins")
    assert r.code == 0, r
    assert f"plugins in {PLUGIN_DIR}:" in r.out, r
    assert "notify-file (notify)" in r.out, r


def test_plugins_missing_dir(tmp_path):
    missing = tmp_path / "nope"
    r = run_vmpipe("plugins", "-d", missing)
    assert r.code == EX_CONFIG, r
    assert f"cannot list plugin directory {missing}" in r.err, r
