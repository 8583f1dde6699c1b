package browser

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// EnvScreenshots names the directory screenshots are written under; by
// default os.TempDir()/balcony-screenshots.
const EnvScreenshots = "BALCONY_SCREENSHOTS"

// Screenshot writes a PNG of the whole page (beyond the viewport, as tall as
// the document) to ScreenshotDir/<TestName>/<name>.png, logs its path, and
// returns it. name is a file name without extension, e.g. "approved-phone".
func (p *Page) Screenshot(name string) string {
	p.t.Helper()
	path, err := writeScreenshot(p.ctx, p.t, name)
	if err != nil {
		p.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	p.t.Logf("screenshot: %s", path)
	return path
}

// writeScreenshot writes the full-page PNG of ctx's tab for t's test.
func writeScreenshot(ctx context.Context, t testing.TB, name string) (string, error) {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG, lossless
	if err != nil {
		return "", err
	}
	dir := filepath.Join(ScreenshotDir(), testDir(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fileName(name)+".png")
	return path, os.WriteFile(path, png, 0o644)
}

// ScreenshotDir is where screenshots go: $BALCONY_SCREENSHOTS, else
// os.TempDir()/balcony-screenshots. Outside the repository by default, so
// a test run leaves nothing to commit by mistake; CI can point it at a
// directory it keeps.
func ScreenshotDir() string {
	if dir := os.Getenv(EnvScreenshots); dir != "" {
		return dir
	}
	return filepath.Join(os.TempDir(), "balcony-screenshots")
}

// testDir makes a test's name a relative directory: a subtest's slashes
// become directories.
func testDir(name string) string {
	parts := strings.Split(name, "/")
	for i, part := range parts {
		parts[i] = fileName(part)
	}
	return filepath.Join(parts...)
}

// fileName makes name one path component: anything but letters, digits,
// '.', '-' and '_' becomes '_' (go test already turns a subtest name's
// spaces into '_'), and it is never empty, "." or "..".
func fileName(name string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, name)
	if strings.Trim(name, ".") == "" {
		name = strings.ReplaceAll(name, ".", "_") + "_"
	}
	return name
}
