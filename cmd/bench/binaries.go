package main

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// modulePath is this repository's module, whose commands the bench runs.
const modulePath = "github.com/wealthwarriors/wealthcoach"

// binaries are the executables the bench runs.
type binaries struct {
	wealthcoach string // server, fake model, seeding and load tool
	baseline    string // bare gws servers
}

// resolveBinaries takes the binaries from binDir, or builds them into
// dir/bin from the module the current directory is in.
func resolveBinaries(ctx context.Context, binDir, dir string, procs *group) (binaries, error) {
	if binDir != "" {
		return checkBinaries(binDir)
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return binaries{}, err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return binaries{}, fmt.Errorf("build: %w (or pass --bin-dir)", err)
	}
	out := filepath.Join(dir, "bin")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return binaries{}, fmt.Errorf("build: %w", err)
	}
	err = procs.run(ctx, procSpec{
		Name: "go build", Bin: goBin, Dir: root, Log: logPath(dir, "build"),
		Args: []string{"build", "-o", out + string(filepath.Separator), modulePath + "/cmd/wealthcoach", modulePath + "/cmd/baseline"},
	})
	if err != nil {
		return binaries{}, fmt.Errorf("build: %w (output in %s)", err, logPath(dir, "build"))
	}
	return checkBinaries(out)
}

// moduleRoot finds the directory of this repository's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module: go env GOMOD: %w (or pass --bin-dir)", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("find the module: run the bench inside the wealthcoach repository, or pass --bin-dir")
	}
	return filepath.Dir(gomod), nil
}

func checkBinaries(dir string) (binaries, error) {
	b := binaries{wealthcoach: filepath.Join(dir, "wealthcoach"), baseline: filepath.Join(dir, "baseline")}
	for _, p := range []string{b.wealthcoach, b.baseline} {
		st, err := os.Stat(p)
		if err != nil {
			return b, fmt.Errorf("binaries: %w", err)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return b, fmt.Errorf("binaries: %s is not an executable", p)
		}
	}
	return b, nil
}

// goVersion is the Go release a binary was built with.
func goVersion(bin string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "unknown"
	}
	return info.GoVersion
}
