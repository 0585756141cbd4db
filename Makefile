# Switchboard: `make run` to see it work, `make test` to check it. Both set up everything they need.
SWIFT ?= swift
BIN_DIR = $(shell $(SWIFT) build --show-bin-path)
RELEASE_BIN_DIR = $(shell $(SWIFT) build -c release --show-bin-path)
export SWITCHBOARD_PG_PORT ?= 54329

.PHONY: run test build release deps test-deps db db-fast stop-db migrate format lint clean fuzz chaos ha-test bench bench-clean microbench install uninstall

# The demo runs the optimized build, as an operator would; the tests use the debug build.
run: deps release db
	@bash scripts/run-demo.sh "$(RELEASE_BIN_DIR)/switchboard"

# make test builds our own targets with every warning an error (Package.swift: only then).
test: export SWITCHBOARD_WARNINGS_AS_ERRORS = 1
test: test-deps db-fast build lint
	@bash scripts/pg.sh drop-test-databases
	SWITCHBOARD_TEST_DATABASE="$$(bash scripts/pg.sh conninfo switchboard_test)" \
	SWITCHBOARD_BIN="$(BIN_DIR)/switchboard" \
	$(SWIFT) test --disable-xctest
	"$(BIN_DIR)/switchboard-fuzz" Fuzz/corpus
	@if [ "$$(id -u)" -eq 0 ]; then bash scripts/ha-test.sh --short; \
	else echo "ha-test skipped: network namespaces need root (sudo make ha-test)"; fi

# Several hosts in network namespaces: two hubs, a Patroni cluster; a hub killed, a hub cut off,
# the primary killed, under load (root; docs/scaling.md). `make test` runs its short form.
ha-test:
	bash scripts/ha-test.sh

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release

deps:
	@bash scripts/install-deps.sh

test-deps:
	@bash scripts/install-deps.sh --for-tests

db:
	@bash scripts/pg.sh start

db-fast:
	@bash scripts/pg.sh start --fast

stop-db:
	@bash scripts/pg.sh stop

migrate: build db
	SWITCHBOARD_DATABASE="$$(bash scripts/pg.sh conninfo switchboard)" "$(BIN_DIR)/switchboard" migrate

# Installation under DESTDIR/PREFIX (default /usr/local): binaries, unit, sysusers, tmpfiles,
# example configuration, docs and a man page (deploy/README.md). INSTALL_FROM: a folder with the
# built binaries, instead of a release build made here.
PREFIX ?= /usr/local
INSTALL_FROM ?=
install: $(if $(INSTALL_FROM),,release)
	@PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" bash scripts/install.sh install "$(if $(INSTALL_FROM),$(INSTALL_FROM),$(RELEASE_BIN_DIR))"

uninstall:
	@PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" bash scripts/install.sh uninstall -

format:
	$(SWIFT) format -i -r Sources Tests

lint:
	$(SWIFT) format lint --strict -r Sources Tests

clean:
	-@bash scripts/pg.sh stop
	rm -rf .run .build

# Chaos: the hub killed with SIGKILL CHAOS_KILLS times under load (make test runs 20).
CHAOS_KILLS ?= 100
chaos: deps db-fast build
	@bash scripts/pg.sh drop-test-databases
	SWITCHBOARD_TEST_DATABASE="$$(bash scripts/pg.sh conninfo switchboard_test)" \
	SWITCHBOARD_BIN="$(BIN_DIR)/switchboard" SWITCHBOARD_CHAOS_KILLS=$(CHAOS_KILLS) \
	$(SWIFT) test --disable-xctest --filter ChaosTests

# Fuzzing: the SWB/1 decoder, the JSON parser and the config parser under libFuzzer + AddressSanitizer.
FUZZ_SECONDS ?= 120
fuzz:
	$(SWIFT) build -c release --scratch-path .build-fuzz --product switchboard-fuzz \
		--sanitize fuzzer --sanitize address -Xswiftc -parse-as-library -Xswiftc -DFUZZING
	mkdir -p .run/fuzz-corpus && cp -n Fuzz/corpus/* .run/fuzz-corpus/ 2>/dev/null || true
	SWIFT_BACKTRACE=enable=no "$$($(SWIFT) build -c release --scratch-path .build-fuzz --show-bin-path)/switchboard-fuzz" \
		-max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=.run/ .run/fuzz-corpus Fuzz/corpus

# Benchmarks: the hub against PostgreSQL and ZeroMQ alone, in one run, with PostgreSQL's durable
# settings and memory for the 10 M-row tables (scripts/pg.sh start --bench). BENCH_ARGS=--quick for a few minutes.
BENCH_ARGS ?=
bench: deps release
	@bash scripts/pg.sh stop
	@bash scripts/pg.sh start --bench
	@# Databases left by an earlier make test: autovacuum would visit each of them during the run.
	@bash scripts/pg.sh drop-test-databases
	"$(RELEASE_BIN_DIR)/switchboard-bench" --database "$$(bash scripts/pg.sh conninfo switchboard)" --output .run/bench.json $(BENCH_ARGS)

# The bench's databases, left for inspection after a run (some 12 GB after a full one).
bench-clean: db
	@bash scripts/pg.sh drop-bench-databases

# Micro-benchmarks (ordo-one/benchmark, its own package in Benchmarks/): codec, identity
# normalization, routing and the dispatch queue; operations per second and mallocs per operation.
microbench:
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark --target Hot
