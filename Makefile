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

.PHONY: mock-upstream
mock-upstream: ## Run the mock model provider on 127.0.0.1:8081 (OpenAI and Anthropic formats)
	$(GO) run ./cmd/mock-upstream --addr 127.0.0.1:8081

.PHONY: demo
demo: build ## A first chat completion through the gateway, against the mock upstream, with nothing external
	@set -e; dir=$$(mktemp -d); \
	$(GO) build -o $$dir/mock-upstream ./cmd/mock-upstream; \
	$$dir/mock-upstream --addr 127.0.0.1:18081 2>/dev/null & mock=$$!; \
	./$(BIN) serve --node-id demo --data-dir $$dir/data --http-addr 127.0.0.1:13000 --raft-addr 127.0.0.1:17000 >$$dir/node.log 2>&1 & node=$$!; \
	trap 'kill $$mock $$node 2>/dev/null; wait $$node 2>/dev/null; rm -rf '$$dir EXIT; \
	for i in $$(seq 100); do curl -sf 127.0.0.1:13000/api/health >/dev/null && break; sleep 0.1; done; \
	token=$$(curl -sf 127.0.0.1:13000/api/auth/login -d '{"email":"admin@example.com","password":"ai-gateway-admin-2026"}' | sed -E 's/.*"token":"([^"]+)".*/\1/'); \
	curl -sf 127.0.0.1:13000/api/admin/providers -H "Authorization: Bearer $$token" \
	  -d '{"name":"Mock","slug":"mock","base_url":"http://127.0.0.1:18081","models":"mock-model"}' >/dev/null; \
	key=$$(curl -sf 127.0.0.1:13000/api/admin/keys -H "Authorization: Bearer $$token" -d '{"name":"demo"}' | sed -E 's/.*"key":"([^"]+)".*/\1/'); \
	echo "signed in, added a provider pointing at the mock upstream, created an API key"; \
	echo '$$ curl localhost:13000/v1/chat/completions -H "Authorization: Bearer gk_..." -d {"model":"mock-model",...}'; \
	curl -sf 127.0.0.1:13000/v1/chat/completions -H "Authorization: Bearer $$key" \
	  -d '{"model":"mock-model","messages":[{"role":"user","content":"Hello!"}]}'; echo

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
	$(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./gateway/sse
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeLLM$$' -fuzztime $(FUZZTIME) ./gateway
	$(GO) test -run '^$$' -fuzz '^FuzzTranslateRequest$$' -fuzztime $(FUZZTIME) ./gateway/provider/anthropic
	$(GO) test -run '^$$' -fuzz '^FuzzStreamEvent$$' -fuzztime $(FUZZTIME) ./gateway/provider/anthropic
	$(GO) test -run '^$$' -fuzz '^FuzzContentTokens$$' -fuzztime $(FUZZTIME) ./gateway/provider/openai
	$(GO) test -run '^$$' -fuzz '^FuzzRedactor$$' -fuzztime $(FUZZTIME) ./storage/event
	$(GO) test -run '^$$' -fuzz '^FuzzAppendStreamText$$' -fuzztime $(FUZZTIME) ./storage/event
	$(GO) test -run '^$$' -fuzz '^FuzzDuration$$' -fuzztime $(FUZZTIME) ./gateway/media

.PHONY: docker
docker: ## Build the container image tensorgate:$(VERSION) (needs a Docker engine)
	docker build -f deploy/Dockerfile -t tensorgate:$(VERSION) --build-arg VERSION=$(VERSION) \
		--build-arg REVISION=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) .

.PHONY: clean
clean: ## Remove build output (not ./data)
	rm -rf bin
