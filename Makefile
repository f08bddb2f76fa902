# The two commands that matter: `make run` and `make test`. Everything they
# need is built here from the Go module proxy; PostgreSQL comes from Debian.

DATA_DIR ?= .data
OPENFGA_VERSION := $(shell awk '$$1 == "github.com/openfga/openfga" { print $$2 }' tools/go.mod)
OPENFGA_BIN := $(DATA_DIR)/bin/openfga-$(OPENFGA_VERSION)
BIN := $(DATA_DIR)/bin/caido-cloud
# The go packages under test; the tools module is not one of them.
PACKAGES := ./...

.PHONY: run test build openfga chromium bench fuzz lint clean

## run: PostgreSQL, OpenFGA and caido-cloud on http://127.0.0.1:8080; Ctrl-C stops all.
run: build openfga
	$(BIN) dev run --exit-with-parent --data-dir $(DATA_DIR) --openfga-bin $(OPENFGA_BIN)

## test: every test, race detector on, against a throwaway PostgreSQL and OpenFGA.
test: build openfga chromium
	$(BIN) dev exec --exit-with-parent --openfga-bin $(OPENFGA_BIN) -- go test -race -count=1 -timeout 20m $(PACKAGES)

## bench: the Go benchmarks, against the same throwaway system.
bench: build openfga
	$(BIN) dev exec --openfga-bin $(OPENFGA_BIN) -- go test -run '^$$' -bench . -benchmem $(PACKAGES)

## fuzz: each Go fuzz target (func FuzzX in a *_fuzz_test.go) for FUZZTIME, one after the
## other (go fuzzes one target per run), against the same throwaway system; the handler
## targets (FUZZ_DB_PACKAGES: a real request per input) for FUZZTIME_DB. FUZZ picks targets
## by a regular expression over "package target", e.g. make fuzz FUZZ=SafeNext FUZZTIME=5m.
## A failing input is kept in the package's testdata/fuzz/, where go test replays it.
## FUZZMINIMIZETIME bounds the shrinking of each new input (go's default, 60s, can take a
## short run whole).
FUZZTIME ?= 30s
FUZZTIME_DB ?= 10s
FUZZMINIMIZETIME ?= 5s
FUZZMINIMIZETIME_DB ?= 20x
FUZZ ?= .
FUZZPARALLEL ?= 1
FUZZ_DB_PACKAGES := ./api
fuzz: build openfga
	$(BIN) dev exec --exit-with-parent --openfga-bin $(OPENFGA_BIN) -- sh -c '\
		grep -rHo --include="*_test.go" "^func Fuzz[A-Za-z0-9_]*" . | grep -v "^./tools/" \
		| sed "s|/[^/]*:func | |" | sort | grep -E -- "$(FUZZ)" | while read pkg name; do \
			t=$(FUZZTIME) m=$(FUZZMINIMIZETIME); \
			case " $(FUZZ_DB_PACKAGES) " in *" $$pkg "*) t=$(FUZZTIME_DB) m=$(FUZZMINIMIZETIME_DB);; esac; \
			echo "== $$pkg $$name for $$t"; \
			go test -run "^$$" -fuzz "^$$name$$" -fuzztime $$t -fuzzminimizetime $$m -parallel $(FUZZPARALLEL) $$pkg || exit 1; \
		done'

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
