package gitrepo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// ErrCorrupt: a mirror cannot be read, even after repair.
var ErrCorrupt = errors.New("corrupt repository")

// go-git's temporary files in objects/pack (an unfinished pack or loose
// object), and git's own.
var tmpPackPrefixes = []string{"tmp_pack_", "tmp_obj_", "tmp_idx_"}

// cleanPacks removes from objects/pack of the bare repository at dir what an
// interrupted pack write leaves: temporary files, and an index without its
// pack. go-git's PackWriter writes pack-<sum>.idx in place, then renames the
// pack next to it, and keeps an index that already exists: after a crash (or
// a full disk) between the two, fetching the same pack again (same objects,
// same sum) would install it beside the cut index, and every reader that
// loads the indexes afresh would fail. It returns one line per file removed.
func cleanPacks(dir string) ([]string, error) {
	packDir := filepath.Join(dir, "objects", "pack")
	list, names, err := dirNames(packDir)
	if err != nil {
		return nil, err
	}
	var fixes []string
	for _, name := range list {
		why := ""
		switch {
		case hasAnyPrefix(name, tmpPackPrefixes), strings.HasPrefix(name, ".") && strings.Contains(name, tmpInfix):
			why = "temporary file of an interrupted write"
		case strings.HasPrefix(name, "pack-") && strings.HasSuffix(name, ".idx") &&
			!names[strings.TrimSuffix(name, ".idx")+".pack"]:
			why = "index without its pack, from an interrupted fetch"
		default:
			continue
		}
		if err := os.Remove(filepath.Join(packDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fixes, err
		}
		fixes = append(fixes, fmt.Sprintf("removed objects/pack/%s: %s", name, why))
	}
	return fixes, nil
}

// repair puts right, in the bare repository at dir, what a process killed
// while writing it can leave, and returns one line per fix:
//   - what cleanPacks removes;
//   - a pack whose index does not decode, or indexes another pack, gets its
//     index rebuilt from the pack; a pack that does not parse is removed
//     with its index (verify then finds the refs that needed it);
//   - a ref file holding no ref (go-git truncates a ref file before it
//     writes the new value) is removed: the next fetch writes a branch
//     again, and the packed value of a ref, if any, shows again;
//   - an empty or unreadable config file (go-git rewrites it in place)
//     becomes a bare repository's; the mirror's remote is set by the
//     caller.
//
// A dir that does not look like a bare repository (HEAD, objects, refs) is
// left alone. The error is an I/O failure, not what was found.
func repair(dir string) ([]string, error) {
	for _, name := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return nil, nil
		}
	}
	fixes, err := cleanPacks(dir)
	if err != nil {
		return fixes, err
	}
	more, err := repairIndexes(filepath.Join(dir, "objects", "pack"))
	fixes = append(fixes, more...)
	if err != nil {
		return fixes, err
	}
	more, err = repairRefs(dir)
	fixes = append(fixes, more...)
	if err != nil {
		return fixes, err
	}
	leftovers, err := filepath.Glob(filepath.Join(dir, ".config"+tmpInfix+"*"))
	if err != nil {
		return fixes, err
	}
	for _, path := range leftovers {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fixes, err
		}
		fixes = append(fixes, fmt.Sprintf("removed %s: temporary file of an interrupted write", filepath.Base(path)))
	}
	cfg := filepath.Join(dir, "config")
	data, err := os.ReadFile(cfg)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fixes, err
	}
	if _, perr := config.ReadConfig(bytes.NewReader(data)); err == nil && (len(bytes.TrimSpace(data)) == 0 || perr != nil) {
		if err := WriteFileAtomic(cfg, []byte("[core]\n\trepositoryformatversion = 0\n\tbare = true\n"), 0o644); err != nil {
			return fixes, err
		}
		fixes = append(fixes, fmt.Sprintf("rewrote config: it held %q", data))
	}
	return fixes, nil
}

// repairIndexes checks the index of every pack in packDir and rebuilds the
// ones that do not decode or do not match their pack.
func repairIndexes(packDir string) ([]string, error) {
	packs, err := filepath.Glob(filepath.Join(packDir, "pack-*.pack"))
	if err != nil {
		return nil, err
	}
	var fixes []string
	for _, pack := range packs {
		sum := plumbing.NewHash(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(pack), "pack-"), ".pack"))
		idx := strings.TrimSuffix(pack, ".pack") + ".idx"
		bad := checkIndex(idx, sum)
		if bad == nil {
			continue
		}
		rel := "objects/pack/" + filepath.Base(idx)
		if err := rebuildIndex(pack, idx, sum); err != nil {
			// The pack itself is unreadable: without it, the refs that
			// need its objects are dangling, which verify reports.
			if err := errors.Join(os.Remove(pack), os.Remove(idx)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fixes, err
			}
			fixes = append(fixes, fmt.Sprintf("removed %s and its pack: the index is unusable (%v) and the pack too (%v)", rel, bad, err))
			continue
		}
		fixes = append(fixes, fmt.Sprintf("rebuilt %s from its pack: %v", rel, bad))
	}
	return fixes, nil
}

// checkIndex decodes the index at path (the decoder checks its checksum)
// and checks it indexes the pack whose checksum is sum.
func checkIndex(path string, sum plumbing.Hash) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(f).Decode(idx); err != nil {
		return err
	}
	if !bytes.Equal(idx.PackfileChecksum[:], sum[:]) {
		return fmt.Errorf("it indexes pack %x", idx.PackfileChecksum)
	}
	return nil
}

// rebuildIndex parses the pack and writes its index to idx atomically.
func rebuildIndex(pack, idx string, sum plumbing.Hash) error {
	f, err := os.Open(pack)
	if err != nil {
		return err
	}
	defer f.Close()
	w := new(idxfile.Writer)
	parser, err := packfile.NewParser(packfile.NewScanner(f), w)
	if err != nil {
		return err
	}
	got, err := parser.Parse()
	if err != nil {
		return err
	}
	if got != sum {
		return fmt.Errorf("its checksum is %s", got)
	}
	index, err := w.Index()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := idxfile.NewEncoder(&buf).Encode(index); err != nil {
		return err
	}
	return WriteFileAtomic(idx, buf.Bytes(), 0o444) // as go-git leaves packs and indexes
}

// repairRefs removes the loose ref files under dir/refs that hold no ref:
// neither a full sha nor "ref: <name>".
func repairRefs(dir string) ([]string, error) {
	var fixes []string
	err := filepath.WalkDir(filepath.Join(dir, "refs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		line := strings.TrimSpace(string(data))
		if plumbing.IsHash(line) || (strings.HasPrefix(line, "ref: ") && len(line) > len("ref: ")) {
			return nil
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		fixes = append(fixes, fmt.Sprintf("removed %s: it held %q, no ref", filepath.ToSlash(rel), data))
		return nil
	})
	return fixes, err
}

// verify opens the repository at dir afresh, loads every pack index and
// checks that the object of every ref is there. Its error wraps ErrCorrupt.
func verify(dir string) error {
	g, err := git.PlainOpen(dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	// Looking up any object not stored loose loads every pack index.
	if err := g.Storer.HasEncodedObject(plumbing.ZeroHash); err != nil && !errors.Is(err, plumbing.ErrObjectNotFound) {
		return fmt.Errorf("%w: read pack indexes: %w", ErrCorrupt, err)
	}
	refs, err := g.Storer.IterReferences()
	if err != nil {
		return fmt.Errorf("%w: read refs: %w", ErrCorrupt, err)
	}
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() != plumbing.HashReference {
			return nil
		}
		if err := g.Storer.HasEncodedObject(ref.Hash()); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrCorrupt, ref.Name(), err)
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("%w: read refs: %w", ErrCorrupt, err)
	}
	return err
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// dirNames lists the names in dir, in order, and as a set; a directory
// that does not exist has none.
func dirNames(dir string) ([]string, map[string]bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	list := make([]string, len(entries))
	names := make(map[string]bool, len(entries))
	for i, e := range entries {
		list[i], names[e.Name()] = e.Name(), true
	}
	return list, names, nil
}
