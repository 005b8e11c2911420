"""The row kernel's SASS on a machine without a GPU or CUDA's own disassembler: what each instance of fused_loss.cu
compiles to for sm_90, and in each of its loops the instructions that set its cost per column (global loads,
spills, shared atomics, exponentials, the BSSY that opens a branch a warp's lanes may split on), and how soon the
loop uses a pack it loads (the slots between: a few, and the warp waits there for the load).

    python3 benchmarks/gpu/sass_offline.py --nvdisasm NVDISASM [--kernel SUBSTRING] [--listing] [-D NAME=VALUE ...]

nvcc (CUDA 13, /usr/local/cuda here) compiles native/src/cuda/fused_loss.cu to a cubin as the build does for sm_90
(-D as build_variants.sh's knobs).  The toolkit here has no nvdisasm or cuobjdump; CUDA 11.8's, which knows sm_90,
is in Debian bookworm's non-free nvidia-cuda-toolkit package (usr/bin/nvdisasm; `dpkg-deb -x` unpacks it without
installing).  It refuses a CUDA 13 cubin only for its ELF header's newer layout, so the script hands it a copy with
the header in CUDA 11.8's (ABI version, e_version, e_flags of sm_90); the code sections are the same bytes.
Instructions newer than 11.8 (VIADD, for one) it leaves out of its listing: every count here is of 16-byte
instruction slots, those included, and --listing shows them as `???`.  Nor does it print a label before them, so a
loop is found from its branch's encoding (-hex), and named by its first instruction's address where that has no
label.  Static counts, not a profile: a loop's instructions are all its paths'.
"""
import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SLOT = 16  # bytes an sm_90 instruction
# What a loop's cost per column is made of: (column, substring of the opcode).
COUNTED = [("LDG", "LDG"), ("LDL", "LDL"), ("STL", "STL"), ("ATOMS", "ATOMS"), ("EX2", "MUFU.EX2"),
           ("RCP", "MUFU.RCP"), ("STG", "STG"), ("BSSY", "BSSY")]


def compile_cubin(defines, out):
    """fused_loss.cu for sm_90 with the build's flags (CMake's CUDA_FLAGS: -O3 -DNDEBUG -std=c++17) into `out`."""
    cmd = ["nvcc", "-std=c++17", "-O3", "-DNDEBUG", "-arch=sm_90", "-cubin",
           "-I" + os.path.join(ROOT, "native", "include"), os.path.join(ROOT, "native", "src", "cuda", "fused_loss.cu"),
           "-o", out] + ["-D" + d for d in defines]
    subprocess.run(cmd, check=True)


def as_cuda_11_8(cubin, out):
    """A copy of an sm_90 cubin with its ELF header in CUDA 11.8's layout: OS/ABI 0x33, ABI version 7, e_version
    118, e_flags 0x5a055a (sm_90 code, virtual sm_90, 64-bit addresses, unified texture mode)."""
    b = bytearray(open(cubin, "rb").read())
    if b[:4] != b"\x7fELF" or struct.unpack_from("<H", b, 18)[0] != 190:  # EM_CUDA
        sys.exit("%s: not a CUDA cubin" % cubin)
    b[7], b[8] = 0x33, 0x07
    struct.pack_into("<I", b, 20, 118)
    struct.pack_into("<I", b, 0x30, 0x5A055A)
    open(out, "wb").write(b)


def branch_offset(low, high):
    """The byte offset, from the next instruction, that an sm_90 BRA's encoding holds (its two 64-bit words): a
    signed count of 4-byte words whose low 8 bits are bits 16-23 and the rest bits 34 up (found by matching every
    labelled branch of fused_loss.cu's cubin; functions() checks each again)."""
    word = low | high << 64
    count = ((word >> 34) & ((1 << 48) - 1)) << 8 | (word >> 16) & 0xFF
    if count >> 55:
        count -= 1 << 56
    return count * 4


def label_addresses(code):
    """{label: the address of the instruction it stands before} of one function's code."""
    found, waiting = {}, []
    for addr, text in code:
        if addr is None:
            waiting.append(text)
        else:
            found.update((label, addr) for label in waiting)
            waiting = []
    return found


def functions(listing):
    """{mangled name: ([(address, text)], {branch address: target address})} from nvdisasm -c -hex, every slot it
    left out as (address, '???').  Branch targets are read from the encodings, since nvdisasm prints no label
    before an instruction it cannot decode."""
    found, name, prev, branch, labels = {}, None, None, None, []
    for line in listing.split("\n"):
        m = re.match(r"//-+ \.text\.(\S+)", line)
        if m:
            name, prev = m.group(1), None
            found[name] = ([], {})
            continue
        if name is None:
            continue
        code, targets = found[name]
        m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s*(.*?)\s*;?\s*/\* 0x([0-9a-f]{16}) \*/\s*$", line)
        if not m:
            high = re.match(r"\s*/\* 0x([0-9a-f]{16}) \*/\s*$", line)
            if high and branch:
                targets[branch[0]] = branch[0] + SLOT + branch_offset(branch[1], int(high.group(1), 16))
            elif re.match(r"^\.L_x_\d+:", line):
                labels.append((None, line.rstrip(":")))
            branch = None
            continue
        addr = int(m.group(1), 16)
        if prev is not None:  # the slots left out come before the labels of the instruction after them
            code.extend((a, "???") for a in range(prev + SLOT, addr, SLOT))
        code.extend(labels)
        labels = []
        code.append((addr, m.group(2)))
        branch = (addr, int(m.group(3), 16)) if re.search(r"\bBRA\b[^`]*`\(", m.group(2)) else None
        prev = addr
    for name, (code, targets) in found.items():  # where nvdisasm printed the label, the decoding must agree
        at = label_addresses(code)
        for addr, text in code:
            label = re.search(r"`\((\.L_x_\d+)\)", text) if addr in targets else None
            if label and label.group(1) in at and at[label.group(1)] != targets[addr]:
                sys.exit("%s: the branch at 0x%x decodes to 0x%x, not to %s" % (name, addr, targets[addr], text))
    return found


def soonest_use(body):
    """The fewest slots from a 16-byte global load in a loop's body (LDG...128: a pack of the row) to the first
    instruction below it that reads one of its four registers, or None where the body reads none of them after its
    load: near, the warp waits there for the load, which then overlaps no work of its own (stores and atomics read
    every operand; other instructions all but the first, their destination; an unpredicated write ends the watch on
    the register it names, of a 64-bit pair the low one only, so that a later read of the high one is a false alarm;
    a slot nvdisasm 11.8 leaves out, `???`, counts as reading none)."""
    best = None
    for i, text in enumerate(body):
        load = re.search(r"\bLDG\.E[.\w]*\.128 R(\d+),", text)
        if not load:
            continue
        watched = {int(load.group(1)) + k for k in range(4)}
        for j in range(i + 1, len(body)):
            m = re.match(r"(@!?U?P\w+ )?(\S+) ?(.*)", body[j])
            predicated, opcode, operands = m.group(1), m.group(2), m.group(3).split(", ")
            stores = re.match(r"(ST|ATOM|RED)", opcode)
            reads = set()
            for op in operands if stores else operands[1:]:
                for r, pair in re.findall(r"\bR(\d+)(\.64)?", op):
                    reads.update({int(r), int(r) + 1} if pair else {int(r)})
            if reads & watched:
                best = j - i if best is None else min(best, j - i)
                break
            written = re.fullmatch(r"R(\d+)", operands[0]) if not stores else None
            if written and not predicated:
                watched.discard(int(written.group(1)))
            if not watched:
                break
    return best


def loops(code, targets, least=100):
    """The innermost loops of one function (a branch back to an instruction above it, around no other such branch)
    of at least `least` slots, in order: (the label or address of its first instruction, slots, counts)."""
    spans = sorted((target, addr) for addr, target in targets.items() if target <= addr)
    names = {addr: label for label, addr in sorted(label_addresses(code).items(), reverse=True)}
    for start, end in spans:
        if any(start <= s and e <= end and (s, e) != (start, end) for s, e in spans):
            continue
        body = [t for a, t in code if a is not None and start <= a <= end]
        if len(body) >= least:
            counts = {k: sum(op in t for t in body) for k, op in COUNTED}
            counts["pack used after"] = soonest_use(body)
            yield names.get(start, "0x%05x" % start), len(body), counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nvdisasm", required=True, help="CUDA 11.8's nvdisasm (or any that knows sm_90)")
    ap.add_argument("--cubin", help="an sm_90 cubin to read instead of compiling fused_loss.cu")
    ap.add_argument("--kernel", default="fused_loss", help="substring of the mangled names to report")
    ap.add_argument("--listing", action="store_true", help="print the matching functions' instructions")
    ap.add_argument("-D", dest="defines", action="append", default=[], help="a macro for nvcc, as NAME=VALUE")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cubin = args.cubin or os.path.join(tmp, "fused_loss.cubin")
        if not args.cubin:
            compile_cubin(args.defines, cubin)
        readable = os.path.join(tmp, "readable.cubin")
        as_cuda_11_8(cubin, readable)
        listing = subprocess.run([args.nvdisasm, "-c", "-hex", readable], check=True, capture_output=True,
                                 text=True).stdout
    for name, (code, targets) in sorted(functions(listing).items()):
        if args.kernel not in name:
            continue
        slots = [a for a, _ in code if a is not None]
        print("%s: %d instructions (%d not decoded)" % (name, len(slots), sum(t == "???" for _, t in code)))
        for label, n, counts in loops(code, targets):
            print("  loop %s: %d instructions, %s" % (label, n, ", ".join("%s %s" % kv for kv in counts.items())))
        if args.listing:
            for addr, text in code:
                print(text + ":" if addr is None else "  /*%05x*/ %s" % (addr, text))


if __name__ == "__main__":
    main()
