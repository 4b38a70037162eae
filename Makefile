# berth — see README.md. The two commands: `make demo` and `make test`.
GO        ?= go
BIN       := bin/berth
PKGS      := ./...
FUZZTIME  ?= 60s
# The version berth version prints: the tag or commit it is built from.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build demo demo-stop test test-short deps lint fuzz bench schema clean bench-quick

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/berth

# deps installs, only when missing, the Debian packages the real-service tests use.
deps:
	bash scripts/install-deps all

demo: build
	bash scripts/demo

# demo-stop stops the berth serve, nginx and PHP-FPM that make demo started.
demo-stop:
	-[ -f .demo/serve.pid ] && kill -TERM $$(cat .demo/serve.pid)
	-[ -f .demo/nginx/logs/nginx.pid ] && kill -QUIT $$(cat .demo/nginx/logs/nginx.pid)
	-[ -f .demo/php/run/php-fpm.pid ] && kill -QUIT $$(cat .demo/php/run/php-fpm.pid)

# -p 1: one package at a time. The end-to-end tests of several packages
# use machine-wide state (the site users berth creates, the test user's
# sudo, network namespaces), which two packages must not share at once.
test: deps
	$(GO) vet $(PKGS)
	$(GO) test -p 1 -count=1 -timeout 45m $(PKGS)

# test-short runs the unit tests only (no real services).
test-short:
	$(GO) test -short -count=1 $(PKGS)

# lint fails on unformatted code, on vet and staticcheck findings, and when
# go.mod or go.sum are not what `go mod tidy` makes of them.
lint:
	gofmt -l . | tee /dev/stderr | (! read -r line)
	$(GO) mod tidy -diff
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

fuzz:
	$(GO) test ./spec -run '^$$' -fuzz FuzzLoad -fuzztime $(FUZZTIME)
	$(GO) test ./render -run '^$$' -fuzz FuzzRenderStructure -fuzztime $(FUZZTIME)

bench: build
	bash scripts/bench

# A subset of bench in under 10 minutes (bench/quick.md, bench/results-quick.json).
bench-quick: build
	BENCH_QUICK=1 bash scripts/bench

schema: build
	$(BIN) schema > examples/sites-repo/berth.schema.json

clean:
	rm -rf bin .demo
