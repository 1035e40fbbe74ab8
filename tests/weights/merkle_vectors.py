#!/usr/bin/env python3
"""Independent computation of custos manifest roots (docs/weights-format.md) with hashlib only.

Usage: merkle_vectors.py CHUNK_SIZE PATH
Prints one line per file, "FILE <root hex> <size> <path>", in bytewise path order, then
"MODEL <model root hex>". Used by tests/weights/manifest_test.cpp to cross-check the C++ code.
"""
import hashlib
import os
import stat
import sys


def h(data):
    return hashlib.sha256(data).digest()


def leaf(data):
    return h(b"\x00" + data)


def node(left, right):
    return h(b"\x01" + left + right)


def mth(leaves):
    """RFC 6962 Merkle tree hash over already-hashed leaves."""
    n = len(leaves)
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def file_root(path, chunk_size):
    size = os.path.getsize(path)
    chunks = []
    with open(path, "rb") as f:
        while True:
            data = f.read(chunk_size)
            if not data:
                break
            chunks.append(h(data))
    if not chunks:  # an empty file is one empty chunk
        chunks.append(h(b""))
    return size, mth([leaf(c) for c in chunks])


def list_files(root):
    st = os.lstat(root)
    if stat.S_ISREG(st.st_mode):
        return [(os.path.basename(root).encode(), root)]
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            out.append((os.fsencode(rel), full))
    out.sort(key=lambda e: e[0])  # bytes sort bytewise
    return out


def main():
    chunk_size = int(sys.argv[1])
    leaves = []
    for rel, full in list_files(sys.argv[2]):
        size, root = file_root(full, chunk_size)
        print("FILE", root.hex(), size, rel.decode())
        leaves.append(leaf(h(rel) + size.to_bytes(8, "big") + root))
    print("MODEL", mth(leaves).hex())


if __name__ == "__main__":
    main()
