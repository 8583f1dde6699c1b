# balcony: `make demo` runs the whole pipeline on this machine, `make test`
# runs every test (unit and end to end, with real Puppet and NATS).
GO ?= go
BIN := bin
# The version every command reports (pkg/version): the nearest v* tag as git
# describes it (v1.2.3-4-gabcdef-dirty); without a tag, Go's own stamp of the
# commit.
VERSION ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null)
LDFLAGS := -X github.com/balcony-dev/balcony/pkg/version.Version=$(VERSION)

.PHONY: all build test test-cluster test-fleet unit e2e demo lint bench bench-fleet bench-code compose-check clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

test: build
	./scripts/ensure-puppet.sh
	./scripts/ensure-chromium.sh
	$(GO) vet ./...
	$(GO) test -race -timeout 15m $$($(GO) list ./... | grep -v '/e2e$$')
	$(GO) test -race -timeout 15m ./e2e/
	$(GO) test -timeout 15m -run 'TestTwoThousandAgents|TestNoopOfAFleet|TestHarnessMeasuresEveryGoal' ./pkg/agent ./pkg/nooper ./pkg/fleetbench

# A real 3-node JetStream cluster (nats-server processes built from go.mod's
# version) at three replicas, a collection and an approval with a node killed
# mid-collection, then the streams' leader killed (docs/cluster.md). Minutes,
# not seconds: not part of `make test`; .ci/run runs it after.
test-cluster:
	$(GO) test -race -tags cluster -timeout 20m -v ./e2e/cluster/

# The nooper's collection across 10,000 fake hosts answering with recorded
# reports, without the race detector: every host asked once per revision and
# counted once. About a minute: .ci/run runs it after make test. Then the
# fleet harness's R3 part on 20 hosts (a 3-node cluster; seconds).
test-fleet:
	$(GO) test -timeout 15m -run 'TestNoopOfAFleet' -v ./pkg/nooper -args -hosts=10000
	$(GO) test -timeout 5m -run 'TestHarnessMeasuresR3' ./pkg/fleetbench

unit:
	$(GO) test -race -short ./pkg/...

e2e: build
	./scripts/ensure-puppet.sh
	./scripts/ensure-chromium.sh
	$(GO) test -race -timeout 15m -v ./e2e/

demo: build
	./scripts/ensure-puppet.sh
	./scripts/demo.sh

lint:
	gofmt -l . | tee /dev/stderr | (! read -r line)
	$(GO) vet ./...
	$(GO) vet -tags cluster ./e2e/cluster/
	staticcheck ./...
	staticcheck -tags cluster ./e2e/cluster/

# docker-compose.yml is checked, not run: these machines have no Docker engine.
compose-check:
	PUPPET_REPO=https://git.example.com/puppet.git docker-compose config --quiet

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/delta/

# The fleet load harness (cmd/bench-fleet): the goals of issue 16 measured
# with fake hosts answering recorded reports, beside raw JetStream; writes
# docs/benchmarks.md and docs/benchmarks-fleet.png. BUDGET bounds each
# measurement (reported as not finished past it). REPLICAS 1,3 also measures
# the fan-out and ingest on a 3-node cluster at R3 (docs/cluster.md), at the
# smallest host count only (25 s to a minute at 1,000 hosts here; at 10,000
# about two minutes more, past the run's ten minutes): BENCH_FLAGS=
# --cluster-all-hosts asks for every count.
HOSTS ?= 1000,10000
RUNS ?= 3
BUDGET ?= 1m
REPLICAS ?= 1,3
bench-fleet:
	$(GO) run ./cmd/bench-fleet --hosts $(HOSTS) --runs $(RUNS) --budget $(BUDGET) --replicas $(REPLICAS) $(BENCH_FLAGS) --write-docs --commit "$$(git describe --always --dirty)"

# Code over the bus (issue 18, docs/code-over-bus.md), on the synthetic
# repository of pkg/codebus's benchmarks: first BenchmarkFleetCode, the time
# from a commit event to the code ready on 1, 10 and 50 agents and the bytes
# per commit, over the bus and with `git fetch`, for CODE_COMMITS commits
# each (at most 50); then the benchmarks behind the page's other tables
# (publish, one agent's fetch against git's, the formats). The server, the
# agents and the git processes all share this machine: about 70 s for the
# first part and 80 s for the rest here, hence not part of `make test`.
# CODE_COUNT=3 repeats each measurement (the page gives medians of three).
CODE_COMMITS ?= 5
CODE_COUNT ?= 1
bench-code:
	$(GO) test -run '^$$' -bench FleetCode -benchtime $(CODE_COMMITS)x -count $(CODE_COUNT) -timeout 60m ./pkg/codebus/
	$(GO) test -run '^$$' -bench 'Publish|Fetch' -benchtime 3x -count $(CODE_COUNT) -timeout 60m ./pkg/codebus/
	$(GO) test -run '^$$' -bench Formats -benchtime 1x -count $(CODE_COUNT) -timeout 60m ./pkg/codebus/

clean:
	rm -rf $(BIN) .demo
