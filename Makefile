# quorumgate — the entry points. `make test` is what CI runs (.ci/run).
GO ?= go

.PHONY: test check tools bench fuzz build replay-examples testnet100 demo100

## test: formatting, vet, the alert rules, and the whole test suite (what CI runs)
test: tools check
	@chromium --version 2>/dev/null || true
	$(GO) test -count=1 ./...

## tools: install the Debian packages the tests need, when missing (chromium, prometheus's promtool)
tools:
	@bash scripts/test-tools.sh

## check: gofmt, go vet, and the Prometheus alert rules (promtool, Debian package prometheus)
check:
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@command -v promtool >/dev/null || { echo "promtool not found: make tools installs it (Debian package prometheus)"; exit 1; }
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts_test.yml

## bench: every performance figure beside its target and its naive baseline
bench:
	$(GO) run ./internal/tools/benchreport

## testnet100: 100-node testnets, devchain then CometBFT: all synced, a proposal ACTIVE on
## every node with one state ID, and each node's memory, idle CPU and start-up printed
## (a few minutes each on two cores; NODES=50 or ENGINES=cometbft to change them)
NODES ?= 100
ENGINES ?= devchain,cometbft
testnet100:
	QUORUMGATE_SCALE_NODES=$(NODES) QUORUMGATE_SCALE_ENGINES=$(ENGINES) \
	  $(GO) test -tags scale -run '^TestTestnetAtScale$$' -count=1 -v -timeout 60m ./testnet

## demo100: `testnet demo --nodes 100`, devchain then CometBFT, operators upgrading in
## rounds: every node ACTIVE at one view with one state ID (about 2 and 8 minutes on
## two cores; NODES and ENGINES as for testnet100)
demo100:
	QUORUMGATE_SCALE_NODES=$(NODES) QUORUMGATE_SCALE_ENGINES=$(ENGINES) \
	  $(GO) test -tags scale -run '^TestDemoAtScale$$' -count=1 -v -timeout 90m ./testnet

## fuzz: run each fuzz target briefly (FUZZTIME=30s for longer). Go minimizes
## each new input for up to a minute by default, during which the exec count
## stands still; FUZZMINTIME bounds that so the rates printed are the fuzzing's.
FUZZTIME ?= 10s
FUZZMINTIME ?= 2s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) $$pkg || exit 1; \
	  done; \
	done

## build: the node-plugin binary into ./bin
build:
	$(GO) build -o bin/node-plugin ./cmd/node-plugin

## replay-examples: replay every example scenario
replay-examples:
	@for f in examples/scenarios/*.json; do echo "== $$f"; $(GO) run ./cmd/node-plugin replay --scenario $$f; done
