# balcony: `make demo` runs the whole pipeline on this machine, `make test`
# runs every test (unit and end to end, with real Puppet and NATS).
GO ?= go
BIN := bin

.PHONY: all build test unit e2e demo lint bench compose-check clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

test: build
	./scripts/ensure-puppet.sh
	$(GO) vet ./...
	$(GO) test -race -timeout 15m ./...

unit:
	$(GO) test -race -short ./pkg/...

e2e: build
	./scripts/ensure-puppet.sh
	$(GO) test -race -timeout 15m -v ./e2e/

demo: build
	./scripts/ensure-puppet.sh
	./scripts/demo.sh

lint:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet ./...
	staticcheck ./...

# docker-compose.yml is checked, not run: these machines have no Docker engine.
compose-check:
	PUPPET_REPO=https://git.example.com/puppet.git docker-compose config --quiet

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/delta/

clean:
	rm -rf $(BIN) .demo
