// An independent check of custos's transparency log with Go's golang.org/x/mod/sumdb/note and
// sumdb/tlog (Debian's golang-golang-x-mod-dev): opens our checkpoints with our log key, rebuilds the
// tree from the entries with Go's own stored-hash code, and checks our inclusion and consistency proofs.
// Each check is also run on a corrupted copy, which must fail, so a checker that passes everything fails.
//
// Usage: tlog_check DIR, where DIR holds log.pub, checkpoint.old, checkpoint.new, entries.jsonl,
// inclusion.json ([{"index","size","proof":[b64]}]) and consistency.json ({"from","size","proof":[b64]}).
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go run tlog_check.go DIR
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type proofFile struct {
	Index int64    `json:"index"`
	From  int64    `json:"from"`
	Size  int64    `json:"size"`
	Proof []string `json:"proof"`
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlog_check: "+format+"\n", a...)
	os.Exit(1)
}

func readFile(dir, name string) []byte {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		fail("%v", err)
	}
	return b
}

func hashes(p []string) []tlog.Hash {
	out := make([]tlog.Hash, len(p))
	for i, s := range p {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			fail("proof hash %d is not a base64 SHA-256 hash", i)
		}
		copy(out[i][:], b)
	}
	return out
}

// A checkpoint opened with the log key: origin, size, root (C2SP tlog-checkpoint).
func openCheckpoint(v note.Verifier, msg []byte) (string, int64, tlog.Hash) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail("note.Open: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		fail("checkpoint body is not origin, size, root")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("checkpoint root: %v", err)
	}
	return lines[0], size, root
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: tlog_check DIR")
	}
	dir := os.Args[1]
	v, err := note.NewVerifier(strings.TrimSpace(string(readFile(dir, "log.pub"))))
	if err != nil {
		fail("note.NewVerifier: %v", err)
	}
	origin, oldSize, oldRoot := openCheckpoint(v, readFile(dir, "checkpoint.old"))
	origin2, newSize, newRoot := openCheckpoint(v, readFile(dir, "checkpoint.new"))
	if origin != v.Name() || origin2 != v.Name() {
		fail("checkpoint origin %q/%q is not the key's name %q", origin, origin2, v.Name())
	}
	// A tampered note must not open.
	tampered := append([]byte{}, readFile(dir, "checkpoint.new")...)
	tampered[len(origin)+1] ^= 1
	if _, err := note.Open(tampered, note.VerifierList(v)); err == nil {
		fail("a tampered checkpoint opened")
	}

	// The tree rebuilt from the entries with Go's own code.
	f, err := os.Open(filepath.Join(dir, "entries.jsonl"))
	if err != nil {
		fail("%v", err)
	}
	var stored []tlog.Hash
	var leaves []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(stored)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := int64(0); sc.Scan(); n++ {
		line := sc.Bytes()
		hs, err := tlog.StoredHashes(n, line, reader)
		if err != nil {
			fail("StoredHashes(%d): %v", n, err)
		}
		stored = append(stored, hs...)
		leaves = append(leaves, tlog.RecordHash(line))
	}
	if int64(len(leaves)) < newSize {
		fail("entries.jsonl has %d entries, the checkpoint %d", len(leaves), newSize)
	}
	for _, c := range []struct {
		size int64
		root tlog.Hash
	}{{oldSize, oldRoot}, {newSize, newRoot}} {
		th, err := tlog.TreeHash(c.size, reader)
		if err != nil || th != c.root {
			fail("the entries do not hash to the root of the checkpoint of size %d", c.size)
		}
	}

	var inc []proofFile
	if err := json.Unmarshal(readFile(dir, "inclusion.json"), &inc); err != nil {
		fail("inclusion.json: %v", err)
	}
	if len(inc) == 0 {
		fail("no inclusion proofs to check")
	}
	for _, p := range inc {
		if p.Size != newSize {
			fail("inclusion proof for size %d, the checkpoint has %d", p.Size, newSize)
		}
		proof := hashes(p.Proof)
		if err := tlog.CheckRecord(proof, p.Size, newRoot, p.Index, leaves[p.Index]); err != nil {
			fail("inclusion proof of entry %d: %v", p.Index, err)
		}
		if len(proof) > 0 {
			proof[0][0] ^= 1
			if tlog.CheckRecord(proof, p.Size, newRoot, p.Index, leaves[p.Index]) == nil {
				fail("a corrupted inclusion proof of entry %d verified", p.Index)
			}
		}
	}

	var con proofFile
	if err := json.Unmarshal(readFile(dir, "consistency.json"), &con); err != nil {
		fail("consistency.json: %v", err)
	}
	if con.From != oldSize || con.Size != newSize {
		fail("consistency proof %d -> %d, the checkpoints are %d -> %d", con.From, con.Size, oldSize, newSize)
	}
	cproof := hashes(con.Proof)
	if err := tlog.CheckTree(cproof, newSize, newRoot, oldSize, oldRoot); err != nil {
		fail("consistency proof %d -> %d: %v", oldSize, newSize, err)
	}
	if len(cproof) > 0 {
		cproof[len(cproof)-1][5] ^= 1
		if tlog.CheckTree(cproof, newSize, newRoot, oldSize, oldRoot) == nil {
			fail("a corrupted consistency proof verified")
		}
	}
	fmt.Printf("ok: log %s, checkpoints %d and %d open with %s, %d inclusion proofs and 1 consistency proof verify\n",
		origin, oldSize, newSize, v.Name(), len(inc))
}
