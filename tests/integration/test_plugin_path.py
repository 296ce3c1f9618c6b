"""Drop-in plugins: plugin_dir is a search path (DIR:DIR, first match wins,
an empty entry is the default path), so a customer's notifier lives in a
directory of its own beside the bundled plugins.  The drop-in here is the
test notifier test-flaky, built like any out-of-tree plugin."""
import json
import os
import wave

from conftest import PLUGIN_DIR, TEST_PLUGIN_DIR, connect_event, run_vmpipe, write

CID = "11111111-2222-3333-4444-555555555555"
FAKE = {"VMPIPE_CLOCK": "fake"}


def dropins(path, *names, src=TEST_PLUGIN_DIR):
    path.mkdir(parents=True, exist_ok=True)
    for n in names:
        os.symlink(os.path.join(src, f"{n}.so"), path / f"{n}.so")
    return path


def recording(tmp_path):
    (tmp_path / "rec").mkdir(exist_ok=True)
    with wave.open(str(tmp_path / "rec" / f"{CID}.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(1600))


def pipeline(path, plugin_dir, extra="", rec="rec"):
    return write(path, f"[pipeline]\nplugin_dir = {plugin_dir}\n{extra}"
                       f"[locate]\nplugin = locate-file\ndir = {rec}\nsettle = 0\n"
                       f"[notify]\nplugin = notify-file\ndir = out\n"
                       f"[notify.extra]\nplugin = test-flaky\n")


def test_drop_in_plugin_in_a_second_directory(tmp_path):
    dropins(tmp_path / "dropins", "test-flaky")
    recording(tmp_path)
    ini = pipeline(tmp_path / "p.ini", f"{PLUGIN_DIR}:dropins")
    r = run_vmpipe("check", "-c", ini)
    assert r.code == 0, r
    assert f"(plugins from {PLUGIN_DIR}:{tmp_path}/dropins)" in r.out, r.out
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(connect_event()), env=FAKE)
    assert r.code == 0, r
    rec = r.json()
    assert rec["stages"]["notify.extra"] == "done", rec
    assert [n["stage"] for n in rec["notifications"]] == ["notify", "notify.extra"], rec


def test_plugin_in_no_directory_of_the_path(tmp_path):
    recording(tmp_path)
    ini = pipeline(tmp_path / "p.ini", f"{PLUGIN_DIR}:dropins")
    r = run_vmpipe("check", "-c", ini)
    assert r.code == 78, r
    assert (f"[notify.extra] plugin 'test-flaky' not found: no {PLUGIN_DIR}/test-flaky.so, "
            f"no {tmp_path}/dropins/test-flaky.so") in r.err, r.err


def test_plugins_lists_every_directory_and_a_name_found_twice(tmp_path):
    # The drop-in directory also holds a notify-file: the bundled one wins.
    dropins(tmp_path / "dropins", "test-flaky")
    dropins(tmp_path / "dropins", "notify-file", src=PLUGIN_DIR)
    ini = pipeline(tmp_path / "p.ini", f"{PLUGIN_DIR}:dropins:missing")
    r = run_vmpipe("plugins", "-c", ini)
    assert r.code == 0, r
    assert r.out.startswith("plugin search path (the first directory holding NAME.so wins):\n"
                            f"  {PLUGIN_DIR}\n  {tmp_path}/dropins\n"
                            f"  {tmp_path}/missing (no such directory)\n\n"), r.out
    bundled, drop = r.out.split(f"plugins in {tmp_path}/dropins:\n")
    assert "notify-file (notify)" in bundled and "test-flaky" not in bundled
    assert drop.startswith(f"\nnotify-file: not used: {PLUGIN_DIR}/notify-file.so comes first "
                           "in the search path\n"), drop
    assert "test-flaky (notify)" in drop
    assert (f"plugin 'notify-file' found twice: {PLUGIN_DIR}/notify-file.so is used, "
            f"{tmp_path}/dropins/notify-file.so is not") in r.err, r.err


def test_default_search_path_is_listed():
    r = run_vmpipe("plugins")
    assert r.code == 0, r
    lines = r.out.split("\n\n", 1)[0].splitlines()
    assert lines[0] == "plugin search path (the first directory holding NAME.so wins):"
    assert [ln.split(" (")[0].strip() for ln in lines[1:]] == \
        [PLUGIN_DIR, "/usr/local/lib/vmpipe/plugins", "/etc/vmpipe/plugins.d"], r.out


def test_tenant_adds_its_own_folder(tmp_path):
    """A tenant pipeline's `plugin_dir = plugins:` is its own folder, then the
    base pipeline's path: its drop-in and the bundled plugins both load."""
    recording(tmp_path)
    write(tmp_path / "base.ini",
          f"[pipeline]\nplugin_dir = {PLUGIN_DIR}\ntenant_dir = tenants\n"
          f"[locate]\nplugin = locate-file\ndir = rec\nsettle = 0\n"
          f"[notify]\nplugin = notify-file\ndir = out\n")
    dropins(tmp_path / "tenants" / "plugins", "test-flaky")
    pipeline(tmp_path / "tenants" / "acme.ini", "plugins:", rec="../rec")
    ev = connect_event(extra_attrs={"tenant": "acme"})
    r = run_vmpipe("run", "-c", tmp_path / "base.ini", "-", input=json.dumps(ev), env=FAKE)
    assert r.code == 0, r
    rec = r.json()
    assert rec["stages"]["notify.extra"] == "done", rec
    # The base pipeline itself has no such plugin: the folder is the tenant's.
    write(tmp_path / "base2.ini",
          f"[pipeline]\nplugin_dir = {PLUGIN_DIR}\n"
          f"[locate]\nplugin = locate-file\ndir = rec\nsettle = 0\n"
          f"[notify]\nplugin = test-flaky\n")
    r = run_vmpipe("check", "-c", tmp_path / "base2.ini")
    assert r.code == 78 and "plugin 'test-flaky' not found" in r.err, r


def doc_example():
    """The hello plugin of vmpipe-plugin(7), as the page shows it."""
    import re
    from conftest import ROOT
    with open(os.path.join(ROOT, "docs", "vmpipe-plugin.7.md")) as f:
        page = f.read()
    return re.search(r"```c\n(.*?)```", page, re.S).group(1)


def test_the_manual_hello_plugin_as_a_drop_in(tmp_path):
    """vmpipe-plugin(7)'s example, built as its reader would (cc -shared
    against the public headers), dropped into a directory of its own: it
    loads, runs without a caller ID (no NULL to %s) and records a notification."""
    import subprocess
    from conftest import ROOT
    src = write(tmp_path / "hello.c", doc_example())
    drop = tmp_path / "dropins"
    drop.mkdir()
    r = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-Wformat=2", "-shared",
                        "-fPIC", "-I", os.path.join(ROOT, "include"), "-o",
                        str(drop / "notify-hello.so"), src], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    recording(tmp_path)
    ini = write(tmp_path / "p.ini", f"[pipeline]\nplugin_dir = {PLUGIN_DIR}:dropins\n"
                                    "[locate]\nplugin = locate-file\ndir = rec\nsettle = 0\n"
                                    "[notify]\nplugin = notify-file\ndir = out\n"
                                    "[notify.hello]\nplugin = notify-hello\n")
    job = {"id": CID, "recipient": {"email": "owner@example.com"}}  # no contact.caller
    r = run_vmpipe("run", "-c", ini, "-", input=json.dumps(job), env=FAKE)
    assert r.code == 0, r
    assert "hello, unknown caller" in r.err, r.err
    rec = r.json()
    (n,) = [n for n in rec["notifications"] if n["stage"] == "notify.hello"]
    import re
    assert n["transport"] == "log" and re.fullmatch(r"hello-[0-9a-f]{32}", n["message_id"]), n
    # The stable key: the same for this job and stage on every run.
    again = run_vmpipe("run", "-c", ini, "-", input=json.dumps(job), env=FAKE).json()
    assert [m["message_id"] for m in again["notifications"] if m["stage"] == "notify.hello"] == \
        [n["message_id"]]
    r = run_vmpipe("plugins", "-c", ini)
    assert f"plugins in {tmp_path}/dropins:\n\nnotify-hello (notify)\n    say hello in the log" in r.out
