// tlogcheck independently verifies a C2SP tlog-tiles log with Go's golang.org/x/mod/sumdb/note
// and sumdb/tlog (Debian golang-golang-x-mod-dev, GOPATH mode): the checkpoint signature, the
// root recomputed from tiles, every full tile against the level above, and every entry bundle
// against the level-0 tiles.
//
// Usage: tlogcheck -vkey VKEY (-url BASE | -dir DIR)
// BASE is a node URL whose log lives under BASE/log/; DIR holds checkpoint and tile/.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"flag"
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

var (
	vkey = flag.String("vkey", "", "log verifier key name+hex+base64")
	url  = flag.String("url", "", "node base URL (log under URL/log/)")
	dir  = flag.String("dir", "", "log directory")
)

func fetch(path string) ([]byte, error) {
	if *dir != "" {
		return os.ReadFile(filepath.Join(*dir, filepath.FromSlash(path)))
	}
	resp, err := http.Get(strings.TrimRight(*url, "/") + "/log/" + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

func indexPath(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n /= 1000; n > 0; n /= 1000 {
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

// c2spPath names a tile in the C2SP layout (not Go's sumdb tile/8/L/... layout).
func c2spPath(level int, index int64, width int) string {
	p := fmt.Sprintf("tile/%d/%s", level, indexPath(index))
	if level < 0 {
		p = "tile/entries/" + indexPath(index)
	}
	if width < 256 {
		p += fmt.Sprintf(".p/%d", width)
	}
	return p
}

// publishedWidth is the width of tile (level, index) in the tree of the given size.
func publishedWidth(size int64, level int, index int64) int {
	count := size >> (8 * uint(level))
	w := count - index*256
	if w > 256 {
		w = 256
	}
	return int(w)
}

// reader serves Go's tile requests from C2SP tiles: Go asks for the narrowest width holding an
// index; only the published width exists, so fetch that and truncate.
type reader struct{ size int64 }

func (r reader) Height() int { return 8 }
func (r reader) SaveTiles([]tlog.Tile, [][]byte) {}
func (r reader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		w := publishedWidth(r.size, t.L, t.N)
		data, err := fetch(c2spPath(t.L, t.N, w))
		if err != nil {
			return nil, err
		}
		if len(data) != w*32 || t.W > w {
			return nil, fmt.Errorf("%s: %d bytes, want %d", c2spPath(t.L, t.N, w), len(data), w*32)
		}
		out[i] = data[:t.W*32]
	}
	return out, nil
}

// tileRoot hashes a full tile's 256 hashes into the hash stored one level up.
func tileRoot(data []byte) tlog.Hash {
	hs := make([]tlog.Hash, 256)
	for i := range hs {
		copy(hs[i][:], data[i*32:])
	}
	for len(hs) > 1 {
		next := make([]tlog.Hash, len(hs)/2)
		for i := range next {
			next[i] = tlog.NodeHash(hs[2*i], hs[2*i+1])
		}
		hs = next
	}
	return hs[0]
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlogcheck: FAILED: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	flag.Parse()
	if *vkey == "" || (*url == "") == (*dir == "") {
		fmt.Fprintln(os.Stderr, "usage: tlogcheck -vkey VKEY (-url BASE | -dir DIR)")
		os.Exit(2)
	}
	verifier, err := note.NewVerifier(*vkey)
	if err != nil {
		fail("vkey: %v", err)
	}
	msg, err := fetch("checkpoint")
	if err != nil {
		fail("checkpoint: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 {
		fail("checkpoint has %d lines", len(lines))
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || strconv.FormatInt(size, 10) != lines[1] {
		fail("bad size %q", lines[1])
	}
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rootBytes) != 32 {
		fail("bad root %q", lines[2])
	}
	var root tlog.Hash
	copy(root[:], rootBytes)

	r := reader{size}
	computed, err := tlog.TreeHash(size, tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, r))
	if err != nil {
		fail("root from tiles: %v", err)
	}
	if computed != root {
		fail("root from tiles %v != signed root %v", computed, root)
	}

	tiles, bundles := 0, 0
	for level := 0; size>>(8*uint(level)) > 0; level++ {
		count := size >> (8 * uint(level))
		for index := int64(0); index*256 < count; index++ {
			w := publishedWidth(size, level, index)
			data, err := fetch(c2spPath(level, index, w))
			if err != nil {
				fail("%v", err)
			}
			if len(data) != w*32 {
				fail("%s has %d bytes", c2spPath(level, index, w), len(data))
			}
			tiles++
			if w == 256 {
				pw := publishedWidth(size, level+1, index/256)
				parent, err := fetch(c2spPath(level+1, index/256, pw))
				if err != nil || len(parent) != pw*32 {
					fail("parent of %s: %v", c2spPath(level, index, w), err)
				}
				var want tlog.Hash
				copy(want[:], parent[(index%256)*32:])
				if tileRoot(data) != want {
					fail("%s does not hash to its entry in %s", c2spPath(level, index, w), c2spPath(level+1, index/256, pw))
				}
			}
			if level != 0 {
				continue
			}
			bundle, err := fetch(c2spPath(-1, index, w))
			if err != nil {
				fail("%v", err)
			}
			bundles++
			for i := 0; i < w; i++ {
				if len(bundle) < 2 {
					fail("%s truncated", c2spPath(-1, index, w))
				}
				l := int(binary.BigEndian.Uint16(bundle))
				if len(bundle) < 2+l {
					fail("%s truncated", c2spPath(-1, index, w))
				}
				h := tlog.RecordHash(bundle[2 : 2+l])
				if !bytes.Equal(h[:], data[i*32:(i+1)*32]) {
					fail("entry %d in %s does not match its tile hash", index*256+int64(i), c2spPath(-1, index, w))
				}
				bundle = bundle[2+l:]
			}
			if len(bundle) != 0 {
				fail("%s has trailing bytes", c2spPath(-1, index, w))
			}
		}
	}
	fmt.Printf("tlogcheck: OK %s size %d root %v (%d tiles, %d bundles)\n", lines[0], size, root, tiles, bundles)
}
