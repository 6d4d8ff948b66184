"""Generates the cffi (API mode) C source of ``godot_websocket._gws``.

Run by CMake at build time: ``python gws_cffi_build.py OUT.c``.  The cdef is
read from ``gws.h`` itself (preprocessor lines other than integer ``#define``
constants are dropped), so the header stays the single source of the ABI.
"""

from __future__ import annotations

import pathlib
import re
import sys

import cffi

HERE = pathlib.Path(__file__).resolve().parent


def cdef_from_header(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = []
    skip_cplusplus = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#ifdef __cplusplus"):
            skip_cplusplus = True
            continue
        if skip_cplusplus:
            if stripped.startswith("#endif"):
                skip_cplusplus = False
            continue
        if stripped.startswith("#"):
            m = re.match(r"#define\s+(GWS_\w+)\s+(\d+)\s*$", stripped)
            if m and m.group(1) != "GWS_H":
                out.append(stripped)
            continue
        out.append(line)
    return "\n".join(out)


def make_ffi() -> cffi.FFI:
    ffi = cffi.FFI()
    ffi.cdef(cdef_from_header((HERE / "gws.h").read_text()))
    ffi.set_source("godot_websocket._gws", '#include "gws.h"')
    return ffi


if __name__ == "__main__":
    make_ffi().emit_c_code(sys.argv[1])
