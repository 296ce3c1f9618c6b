"""Broken pipeline files through the built binary: `vmpipe check` (and
`run`) exit 78 and the message names the file, the line, the section and the
option, or the plugin and why it was refused."""
import json
import os

import pytest

from conftest import PLUGIN_DIR, connect_event, run_vmpipe, write

EX_CONFIG = 78

LOCATE = "[locate]\nplugin = locate-file\ndir = rec\n"
NOTIFY = "[notify]\nplugin = notify-file\ndir = out\n"


def pipeline(tmp_path, plugdir, body, name="pipeline.ini"):
    """[pipeline] with plugin_dir on line 2, then `body` from line 3 on."""
    (tmp_path / "rec").mkdir(exist_ok=True)
    return write(tmp_path / name, f"[pipeline]\nplugin_dir = {plugdir}\n{body}")


# (name, body from line 3, what stderr must contain: "@N" is "<file>:N:")
CASES = [
    ("unknown-section", LOCATE + NOTIFY + "[transcriber]\nplugin = x\n",
     ["@9: unknown section [transcriber]"]),
    ("unknown-option", LOCATE + "folder = /var/spool\n" + NOTIFY,
     ["@6: [locate] unknown option 'folder' for plugin 'locate-file'",
      "known: dir, pattern, wait, settle, poll"]),
    ("unknown-pipeline-option", "verbosity = 3\n" + LOCATE + NOTIFY,
     ["@3: [pipeline] unknown option 'verbosity'"]),
    ("bad-duration", LOCATE + "wait = 5 parsecs\n" + NOTIFY,
     ["@6: [locate] option 'wait' = '5 parsecs': expected a duration like 250ms, 70s, 5m"]),
    ("bad-bool", LOCATE + "[notify]\nplugin = test-options\nname = x\nflag = perhaps\n",
     ["@9: [notify] option 'flag' = 'perhaps': expected yes or no"]),
    ("bad-enum", LOCATE + NOTIFY + "attach = sometimes\n",
     ["@9: [notify] option 'attach' = 'sometimes': not one of the allowed values: no|yes|smaller-than"]),
    ("bad-size", LOCATE + NOTIFY + "attach_max = lots\n",
     ["@9: [notify] option 'attach_max' = 'lots': expected a size"]),
    ("missing-required", "[locate]\nplugin = locate-file\n" + NOTIFY,
     ["@3: [locate] missing required option 'dir' for plugin 'locate-file'"]),
    ("missing-plugin", "[locate]\ndir = rec\n" + NOTIFY,
     ["@3: [locate] missing required option 'plugin'"]),
    ("section-twice", LOCATE + NOTIFY + "[notify]\nplugin = notify-file\n",
     ["@9: section [notify] appears twice (first on line 6)"]),
    ("option-twice", LOCATE + "dir = rec2\n" + NOTIFY,
     ["@6: [locate] option 'dir' is set twice (first on line 5)"]),
    ("syntax", LOCATE + "just some words\n" + NOTIFY, ["@6: syntax error"]),
    ("unset-var", LOCATE + "[notify]\nplugin = notify-file\ndir = ${VMT_SURELY_UNSET}/out\n",
     ["@8: [notify] option 'dir': environment variable VMT_SURELY_UNSET is not set"]),
    ("no-locate", NOTIFY, [": no [locate] section"]),
    ("no-notify", LOCATE, [": no [notify] section"]),
    ("bad-notify-name", LOCATE + NOTIFY + "[notify.bad/name]\nplugin = notify-file\ndir = o2\n",
     ["@9: unknown section [notify.bad/name]"]),
    ("plugin-not-found", LOCATE + "[notify]\nplugin = notify-carrier-pigeon\n",
     ["@7: [notify] plugin 'notify-carrier-pigeon' not found", "notify-carrier-pigeon.so"]),
    ("wrong-kind", LOCATE + "[notify]\nplugin = locate-file\ndir = rec\n",
     ["@7: [notify] plugin 'locate-file' is a locate plugin; section [notify] needs a notify plugin"]),
    ("path-dotdot", LOCATE + "[notify]\nplugin = ../notify-file\n",
     ["@7: [notify] plugin name '../notify-file' must be a plain name"]),
    ("path-absolute", LOCATE + "[notify]\nplugin = /tmp/evil\n",
     ["@7: [notify] plugin name '/tmp/evil' must be a plain name", "only from plugin_dir"]),
    ("wrong-abi", LOCATE + "[notify]\nplugin = test-badabi\n",
     ["@7: [notify] plugin 'test-badabi'", "plugin ABI version 99"]),
    ("no-symbol", LOCATE + "[notify]\nplugin = test-nosymbol\n",
     ["@7: [notify]", "exports no 'vmpipe_plugin' symbol"]),
    ("init-fails", LOCATE + "[notify]\nplugin = test-flaky\ninit_error = smtp relay unknown\n",
     ["@6: [notify] plugin 'test-flaky' failed to start: smtp relay unknown"]),
    ("locate-dir-missing", "[locate]\nplugin = locate-file\ndir = no-such-spool\n" + NOTIFY,
     ["@3: [locate] plugin 'locate-file' failed to start: option 'dir'", "no-such-spool"]),
    ("pattern-escapes", LOCATE + "pattern = ../{contact_id}.wav\n" + NOTIFY,
     ["@3: [locate] plugin 'locate-file' failed to start: option 'pattern'", "without '..'"]),
]


@pytest.mark.parametrize("name,body,wants", CASES, ids=[c[0] for c in CASES])
def test_check_refuses(tmp_path, plugdir, name, body, wants):
    os.environ.pop("VMT_SURELY_UNSET", None)
    ini = pipeline(tmp_path, plugdir, body, name + ".ini")
    r = run_vmpipe("check", "-c", ini)
    assert r.code == EX_CONFIG, r
    for w in wants:
        w = f"{ini}:{w[1:]}" if w.startswith("@") else w
        assert w in r.err, f"expected {w!r} in stderr:\n{r.err}"
    assert "pipeline refused" in r.err, r
    assert r.out == "", r


def test_junk_shared_object(tmp_path):
    """A file named .so that is not a shared object at all."""
    junk = tmp_path / "junkdir"
    junk.mkdir()
    (junk / "junk.so").write_bytes(b"\x7fELF but not really\x00\x01\x02" * 10)
    for so in ("locate-file.so", "notify-file.so"):
        os.symlink(os.path.join(PLUGIN_DIR, so), junk / so)
    ini = pipeline(tmp_path, junk, LOCATE + NOTIFY + "[notify.extra]\nplugin = junk\n")
    r = run_vmpipe("check", "-c", ini)
    assert r.code == EX_CONFIG, r
    assert f"{ini}:10: [notify.extra] plugin 'junk': cannot load {junk}/junk.so" in r.err, r


def test_missing_pipeline_file(tmp_path):
    missing = tmp_path / "nope.ini"
    r = run_vmpipe("check", "-c", missing)
    assert r.code == EX_CONFIG, r
    assert f"{missing}: cannot open pipeline file: No such file or directory" in r.err, r


def test_every_problem_reported(tmp_path, plugdir):
    ini = pipeline(tmp_path, plugdir, "timeout = eventually\n" + LOCATE + "wait = later\n"
                   + "[transcriber]\n" + NOTIFY)
    r = run_vmpipe("check", "-c", ini)
    assert r.code == EX_CONFIG, r
    assert f"{ini}:3: [pipeline] option 'timeout' = 'eventually'" in r.err, r
    assert f"{ini}:7: [locate] option 'wait' = 'later'" in r.err, r
    assert f"{ini}:8: unknown section [transcriber]" in r.err, r
    assert "pipeline refused (3 problems)" in r.err, r


def test_run_with_broken_pipeline(tmp_path, plugdir):
    """`run` refuses the same way before reading the event: nothing processed, nothing printed."""
    ini = pipeline(tmp_path, plugdir, LOCATE + "wait = soonish\n" + NOTIFY)
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()))
    assert r.code == EX_CONFIG, r
    assert f"{ini}:6: [locate] option 'wait' = 'soonish'" in r.err, r
    assert r.out == "", r
    assert not (tmp_path / "out").exists()


def test_errors_as_json_lines(tmp_path, plugdir):
    """With JSON logs (not a terminal), each problem is one parseable line."""
    ini = pipeline(tmp_path, plugdir, LOCATE + "wait = 5 fortnights\n" + NOTIFY)
    r = run_vmpipe("--log-format", "json", "check", "-c", ini)
    assert r.code == EX_CONFIG, r
    lines = [json.loads(l) for l in r.err.splitlines() if l.strip()]
    assert lines, r
    texts = [json.dumps(l) for l in lines]
    assert any(f"{ini}:6: [locate] option 'wait' = '5 fortnights'" in t for t in texts), r
    assert all(l.get("level") == "error" for l in lines), lines


def test_variables_expand(tmp_path, plugdir):
    """${VAR} and ${VAR:-default} in a pipeline that loads."""
    (tmp_path / "spool").mkdir()
    ini = pipeline(tmp_path, plugdir, "[locate]\nplugin = locate-file\ndir = ${VMT_SPOOL}\n"
                   "wait = ${VMT_WAIT_UNSET:-90s}\n" + NOTIFY)
    r = run_vmpipe("check", "-c", ini, env={"VMT_SPOOL": str(tmp_path / "spool")})
    assert r.code == 0, r
    r = run_vmpipe("check", "-c", ini, env={"VMT_SPOOL": str(tmp_path / "missing")})
    assert r.code == EX_CONFIG, r
    assert "missing" in r.err, r
