# Tensorgate. `make help` lists the targets.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := bin/tensorgate
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The race detector and the system tests need a generous timeout on 2 cores.
TEST_TIMEOUT ?= 60m

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/tensorgate (static)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tensorgate

.PHONY: run
run: build ## Start one node on :3000 with the seed's default admin (data in ./data)
	./$(BIN) serve

.PHONY: test
test: lint ## Run every test (unit, cluster, system) with -race, after the lint checks
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...

.PHONY: test-short
test-short: ## Quick inner loop: skips the slow and multi-process tests
	$(GO) test -short ./...

.PHONY: lint
lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

.PHONY: bench
bench: ## Run the Go benchmarks (raft log store, commit latency, ...)
	$(GO) test -run '^$$' -bench . -benchmem ./...

FUZZTIME ?= 30s
.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 30s)
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeLog$$' -fuzztime $(FUZZTIME) ./storage/raftlog
	$(GO) test -run '^$$' -fuzz '^FuzzReadSnapshot$$' -fuzztime $(FUZZTIME) ./fsm
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCommand$$' -fuzztime $(FUZZTIME) ./fsm

.PHONY: clean
clean: ## Remove build output (not ./data)
	rm -rf bin
