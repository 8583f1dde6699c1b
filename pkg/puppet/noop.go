package puppet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The noop by catalog (see guard.go for when it is used): `puppet catalog
// compile` compiles the catalog without applying anything, balcony sets
// noop on every resource of it (ForceNoop), and `puppet apply --catalog
// --noop` applies that catalog, writing the report as usual.

// catalogFile, inside a run's scratch directory, is the forced catalog.
const catalogFile = "catalog.json"

// CompileArgs returns the command line that compiles the catalog of the
// code in codeDir, which Puppet prints as JSON on the last line of its
// output (its compile-time notices come first). Like ApplyArgs it reads
// codeDir's environment.conf and fails when that is malformed.
func (r *Runner) CompileArgs(codeDir, scratch string) ([]string, error) {
	manifest, modulepath, err := r.layout(codeDir)
	if err != nil {
		return nil, err
	}
	args := []string{
		"catalog", "compile", r.opts.Certname,
		"--render-as", "json", "--color=false",
		"--certname", r.opts.Certname,
		"--manifest", manifest,
		"--vardir", filepath.Join(scratch, "var"),
		"--statedir", filepath.Join(scratch, "var", "state"),
		"--publicdir", filepath.Join(scratch, "public"),
		"--no-storeconfigs",
	}
	return append(args, r.codeFlags(codeDir, modulepath)...), nil
}

// CatalogNoopArgs returns the command line that applies the forced
// catalog file with --noop, writing the report into scratch.
func (r *Runner) CatalogNoopArgs(codeDir, scratch, catalog string) ([]string, error) {
	_, modulepath, err := r.layout(codeDir)
	if err != nil {
		return nil, err
	}
	args := append([]string{"apply", "--noop", "--catalog", catalog}, r.runFlags(scratch)...)
	return append(args, r.codeFlags(codeDir, modulepath)...), nil
}

// noopByCatalog compiles, forces and applies; see the comment at the top.
func (r *Runner) noopByCatalog(ctx context.Context, codeDir, scratch string) (*Result, error) {
	args, err := r.CompileArgs(codeDir, scratch)
	if err != nil {
		return nil, err
	}
	out, err := r.command(ctx, codeDir, scratch, args)
	compiled := lastLine(out.stdout)
	// The catalog holds secrets in clear: keep it out of Stdout.
	res := &Result{Stdout: strings.TrimSuffix(strings.TrimSpace(out.stdout), compiled), Stderr: out.stderr, ExitCode: out.exitCode}
	if err != nil || out.exitCode != 0 {
		// Did not compile: no report, Puppet's errors are in Stderr.
		return res, err
	}
	forced, err := ForceNoop([]byte(compiled))
	if err != nil {
		return res, fmt.Errorf("puppet's compiled catalog: %w", err)
	}
	res.CatalogJSON = []byte(compiled)
	path := filepath.Join(scratch, catalogFile)
	if err := os.WriteFile(path, forced, 0o600); err != nil {
		return res, fmt.Errorf("write the forced catalog: %w", err)
	}
	if args, err = r.CatalogNoopArgs(codeDir, scratch, path); err != nil {
		return res, err
	}
	out, err = r.command(ctx, codeDir, scratch, args)
	res.Stdout = strings.TrimSpace(res.Stdout + "\n" + out.stdout)
	res.Stderr = strings.TrimSpace(res.Stderr + "\n" + out.stderr)
	res.ExitCode = out.exitCode
	return res, err
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// ForceNoop returns the JSON catalog with noop set to true on every
// resource, whatever the resource asked for; every other part of it is
// kept as it is (numbers exactly).
func ForceNoop(catalog []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(catalog))
	dec.UseNumber()
	var cat map[string]any
	if err := dec.Decode(&cat); err != nil {
		return nil, fmt.Errorf("parse catalog: %w", err)
	}
	resources, ok := cat["resources"].([]any)
	if !ok {
		return nil, errors.New("parse catalog: no resources list")
	}
	for i, res := range resources {
		res, ok := res.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("parse catalog: resource %d is not an object", i)
		}
		params, ok := res["parameters"].(map[string]any)
		if !ok && res["parameters"] != nil {
			return nil, fmt.Errorf("parse catalog: parameters of %v[%v] are not an object", res["type"], res["title"])
		}
		if params == nil {
			params = map[string]any{}
			res["parameters"] = params
		}
		params["noop"] = true
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cat); err != nil {
		return nil, fmt.Errorf("encode catalog: %w", err)
	}
	return b.Bytes(), nil
}
