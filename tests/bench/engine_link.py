"""Linking a benchmark's C tool against the engine as `make` built it: the
engine's objects (named from the sources, main.o left out) and the libraries
the engine links with, so a tool never lists engine files by hand and breaks
when one of them starts to need another."""
import glob
import os
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PKGS = ["libcurl", "libcrypto", "inih", "jansson", "expat", "libmicrohttpd"]


def engine_objects(build):
    srcs = sorted(glob.glob(os.path.join(ROOT, "engine", "**", "*.c"), recursive=True))
    objs = [os.path.join(build, "obj", os.path.relpath(s, ROOT))[:-2] + ".o"
            for s in srcs if os.path.basename(s) != "main.c"]
    missing = [o for o in objs if not os.path.exists(o)]
    if missing:
        raise SystemExit(f"engine objects missing in {build} (run make first): {missing[:3]}")
    return objs


def engine_libs():
    pc = subprocess.run(["pkg-config", "--libs"] + PKGS, capture_output=True, text=True,
                        check=True).stdout.split()
    return pc + ["-lgsm", "-lmp3lame", "-ldl", "-lpthread", "-lm"]
