// An independent check of custos's transparency log with Go's golang.org/x/mod/sumdb/note and
// sumdb/tlog (Debian's golang-golang-x-mod-dev): opens our checkpoints with our log key, rebuilds the
// tree from the entries with Go's own stored-hash code, and checks our inclusion and consistency proofs.
// Each check is also run on a corrupted copy, which must fail, so a checker that passes everything fails.
//
// With tiles.json ({"url","ca","cert","key"}: the verifier's /v1/log/ and the auditor's credential) it
// also reads our C2SP tlog-tiles over HTTPS through Go's TileHashReader, which checks every tile it reads
// against the checkpoint's root: the tree hash and every inclusion proof are computed from our tiles, and
// every entry bundle is compared with the entries. A tile corrupted in transit must be refused.
//
// Usage: tlog_check DIR, where DIR holds log.pub, checkpoint.old, checkpoint.new, entries.jsonl,
// inclusion.json ([{"index","size","proof":[b64]}]), consistency.json ({"from","size","proof":[b64]}) and,
// optionally, tiles.json.
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go run tlog_check.go DIR
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
	tiles := ""
	if _, err := os.Stat(filepath.Join(dir, "tiles.json")); err == nil {
		tiles = checkTiles(dir, newSize, newRoot, leaves)
	}
	fmt.Printf("ok: log %s, checkpoints %d and %d open with %s, %d inclusion proofs and 1 consistency proof verify%s\n",
		origin, oldSize, newSize, v.Name(), len(inc), tiles)
}

type tilesConfig struct {
	URL  string `json:"url"`
	CA   string `json:"ca"`
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// Our tiles over HTTPS, at C2SP paths: Go's "tile/8/L/N" without the height, "tile/8/data/N" as
// "tile/entries/N". `corrupt` names a path whose first byte is flipped as it arrives.
type httpTiles struct {
	client  *http.Client
	base    string
	corrupt string
	fetched int
}

func c2spPath(t tlog.Tile) string {
	p := strings.Replace(t.Path(), "tile/8/data/", "tile/entries/", 1)
	return strings.Replace(p, "tile/8/", "tile/", 1)
}

func (h *httpTiles) get(path string) ([]byte, error) {
	resp, err := h.client.Get(h.base + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	h.fetched++
	if path == h.corrupt && len(b) > 0 {
		b[0] ^= 1
	}
	return b, nil
}

func (h *httpTiles) Height() int { return 8 }
func (h *httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := h.get(c2spPath(t))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
func (h *httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func checkTiles(dir string, size int64, root tlog.Hash, leaves []tlog.Hash) string {
	var c tilesConfig
	if err := json.Unmarshal(readFile(dir, "tiles.json"), &c); err != nil {
		fail("tiles.json: %v", err)
	}
	pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		fail("client certificate: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(readFile("", c.CA)) {
		fail("no CA certificate in %s", c.CA)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{pair}, RootCAs: pool, ServerName: "localhost"}}}
	tr := &httpTiles{client: client, base: c.URL}
	thr := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, tr)
	th, err := tlog.TreeHash(size, thr)
	if err != nil || th != root {
		fail("the tree hash from our tiles is not the checkpoint's root: %v", err)
	}
	for i := int64(0); i < size; i++ {
		proof, err := tlog.ProveRecord(size, i, thr)
		if err != nil {
			fail("inclusion proof of entry %d from our tiles: %v", i, err)
		}
		if err := tlog.CheckRecord(proof, size, root, i, leaves[i]); err != nil {
			fail("inclusion proof of entry %d from our tiles: %v", i, err)
		}
	}
	// Entry bundles: every entry, length-prefixed, hashing to its leaf.
	bundles := 0
	for n := int64(0); n*256 < size; n++ {
		w := size - n*256
		if w > 256 {
			w = 256
		}
		b, err := tr.get(c2spPath(tlog.Tile{H: 8, L: -1, N: n, W: int(w)}))
		if err != nil {
			fail("entry bundle %d: %v", n, err)
		}
		for j := int64(0); j < w; j++ {
			if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
				fail("entry bundle %d is cut short at entry %d", n, j)
			}
			l := int(binary.BigEndian.Uint16(b))
			if tlog.RecordHash(b[2:2+l]) != leaves[n*256+j] {
				fail("entry bundle %d: entry %d is not the logged one", n, n*256+j)
			}
			b = b[2+l:]
		}
		if len(b) != 0 {
			fail("entry bundle %d has %d bytes past its %d entries", n, len(b), w)
		}
		bundles++
	}
	// A level-0 tile altered in transit: Go's reader must refuse it against the root.
	level0 := c2spPath(tlog.Tile{H: 8, L: 0, N: 0, W: int(min64(size, 256))})
	bad := &httpTiles{client: client, base: c.URL, corrupt: level0}
	if _, err := tlog.TreeHash(size, tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, bad)); err == nil {
		fail("a corrupted tile (%s) was accepted", level0)
	}
	return fmt.Sprintf(", %d tiles and %d entry bundles read through TileHashReader", tr.fetched-bundles, bundles)
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}
