"""Speech fixtures are bit-for-bit reproducible: no test passes or fails by chance.

Two builds of every fixture, each from scratch (no cache), must be identical,
and identical to what the cache holds.  A fixture made with sox's random
dither would differ between builds (and between machines), and so would the
word error rates the speech tests measure on it.
"""
import hashlib
import os

import speech


def digests(outdir):
    made = speech.write_all(str(outdir))
    out = {}
    for name, path in made.items():
        with open(path, "rb") as f:
            out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_two_builds_are_identical(tmp_path, monkeypatch):
    monkeypatch.setattr(speech, "_CACHE", "")
    first = digests(tmp_path / "a")
    second = digests(tmp_path / "b")
    assert len(first) >= 10
    assert first == second


def test_cache_holds_the_same_bytes(tmp_path, monkeypatch):
    cached = digests(tmp_path / "cached")
    monkeypatch.setattr(speech, "_CACHE", "")
    fresh = digests(tmp_path / "fresh")
    assert cached == fresh


def test_sox_runs_repeatable_and_without_dither(monkeypatch):
    seen = []
    monkeypatch.setattr(speech.subprocess, "run",
                        lambda cmd, **kw: seen.append(cmd) or
                        type("P", (), {"returncode": 0, "stderr": ""})())
    speech._run("sox", "in.wav", "out.wav")
    assert seen == [("sox", "-R", "-D", "in.wav", "out.wav")]
