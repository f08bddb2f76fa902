# The two commands that matter: `make run` and `make test`. Everything they
# need is built here from the Go module proxy; PostgreSQL comes from Debian.

DATA_DIR ?= .data
OPENFGA_VERSION := $(shell awk '$$1 == "github.com/openfga/openfga" { print $$2 }' tools/go.mod)
OPENFGA_BIN := $(DATA_DIR)/bin/openfga-$(OPENFGA_VERSION)
BIN := $(DATA_DIR)/bin/caido-cloud
# The go packages under test; the tools module is not one of them.
PACKAGES := ./...

.PHONY: run test build openfga chromium bench lint clean

## run: PostgreSQL, OpenFGA and caido-cloud on http://127.0.0.1:8080; Ctrl-C stops all.
run: build openfga
	$(BIN) dev run --exit-with-parent --data-dir $(DATA_DIR) --openfga-bin $(OPENFGA_BIN)

## test: every test, race detector on, against a throwaway PostgreSQL and OpenFGA.
test: build openfga chromium
	$(BIN) dev exec --exit-with-parent --openfga-bin $(OPENFGA_BIN) -- go test -race -count=1 -timeout 20m $(PACKAGES)

## bench: the Go benchmarks, against the same throwaway system.
bench: build openfga
	$(BIN) dev exec --openfga-bin $(OPENFGA_BIN) -- go test -run '^$$' -bench . -benchmem $(PACKAGES)

## chromium: Debian's browser for the browser tests; installed when missing (as root).
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } \
		|| { echo "chromium is missing and cannot be installed without root: apt-get install chromium" >&2; exit 1; }

build:
	go build -o $(BIN) ./cmd/caido-cloud

## openfga: the pinned OpenFGA server, built once per version.
openfga: $(OPENFGA_BIN)

$(OPENFGA_BIN): tools/go.mod tools/go.sum
	cd tools && go build -o ../$(OPENFGA_BIN) github.com/openfga/openfga/cmd/openfga

lint:
	gofmt -l . | (! grep .)
	go vet $(PACKAGES)

clean:
	rm -rf $(DATA_DIR)/bin
