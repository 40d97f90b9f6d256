#!/usr/bin/env python3
"""Which crate the firmware's code bytes come from, through the DWARF line table.

With LTO at opt-level "z" most of wsgate is inlined into a few large functions (the tasks'
`poll`), so symbol sizes (`llvm-nm --size-sort`) cannot say what is wsgate's. The line table
can: it maps every instruction to the source line it came from, inlined or not. This sums the
bytes of `.text` per source crate. Code that the compiler inlined from `core` into wsgate's
functions (slice copies, iterators, integer formatting) is counted as `core`, not wsgate.

Usage: attribute.py ELF [ELF...]   (needs pyelftools: pip install pyelftools)
Prints one line per crate: bytes in each ELF, in the order given.
"""

import collections
import os
import re
import sys

from elftools.elf.elffile import ELFFile


def crate_of(path):
    """A short name for the crate a source path belongs to."""
    path = path.replace("\\", "/")
    if "/examples/shared/" in path:
        return "sample gateways (examples/shared)"
    if "/examples/firmware/" in path:
        return "firmware (examples/firmware)"
    m = re.search(r"/registry/src/[^/]+/([A-Za-z0-9_.-]+?)-\d+\.\d+\.\d+[^/]*/", path)
    if m:
        return m.group(1)
    m = re.search(r"/build/([A-Za-z0-9_.-]+?)-[0-9a-f]{16}/out/", path)
    if m:
        return m.group(1)  # code a build script generated
    if "/library/compiler-builtins/" in path:
        return "compiler-builtins"
    if "/rustc/" in path or path.startswith("library/") or "/library/core/" in path:
        return "core"
    if re.search(r"/src/(protocol|gateway|transport)/|/src/[a-z_]+\.rs$", path):
        return "wsgate"
    return "other"


def attribute(elf_path):
    sizes = collections.Counter()
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        text = elf.get_section_by_name(".text")
        lo, hi = text["sh_addr"], text["sh_addr"] + text["sh_size"]
        dwarf = elf.get_dwarf_info()
        for cu in dwarf.iter_CUs():
            top = cu.get_top_DIE()
            comp_dir = top.attributes.get("DW_AT_comp_dir")
            comp_dir = comp_dir.value.decode() if comp_dir else ""
            lp = dwarf.line_program_for_CU(cu)
            if lp is None:
                continue
            version = lp.header["version"]
            dirs = [d if isinstance(d, bytes) else d.DW_LNCT_path for d in lp.header["include_directory"]]
            dirs = [d.decode() if isinstance(d, bytes) else d for d in dirs]
            files = lp.header["file_entry"]

            def path_of(index):
                # DWARF 5 numbers files and directories from 0, DWARF 4 from 1 (0 = comp_dir).
                i = index if version >= 5 else index - 1
                if i < 0 or i >= len(files):
                    return "?"
                entry = files[i]
                name = entry.name if hasattr(entry, "name") else entry.DW_LNCT_path
                name = name.decode() if isinstance(name, bytes) else name
                d = entry.dir_index if hasattr(entry, "dir_index") else entry.DW_LNCT_directory_index
                if version >= 5:
                    directory = dirs[d] if d < len(dirs) else ""
                else:
                    directory = dirs[d - 1] if 0 < d <= len(dirs) else comp_dir
                path = os.path.join(directory, name)
                if not os.path.isabs(path):
                    path = os.path.join(comp_dir, path)
                return os.path.normpath(path)

            cache = {}
            prev = None
            for entry in lp.get_entries():
                state = entry.state
                if state is None:
                    continue
                if prev is not None and lo <= prev.address < hi and state.address >= prev.address:
                    if prev.file not in cache:
                        cache[prev.file] = crate_of(path_of(prev.file))
                    sizes[cache[prev.file]] += state.address - prev.address
                prev = None if state.end_sequence else state
    return sizes


def main():
    elfs = sys.argv[1:]
    if not elfs:
        sys.exit(__doc__)
    tables = [attribute(e) for e in elfs]
    crates = sorted(set().union(*tables), key=lambda c: -max(t[c] for t in tables))
    for crate in crates:
        print("\t".join([crate] + [str(t[crate]) for t in tables]))


if __name__ == "__main__":
    main()
