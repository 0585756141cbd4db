# Switchboard: `make run` to see it work, `make test` to check it. Both set up everything they need.
SWIFT ?= swift
BIN_DIR = $(shell $(SWIFT) build --show-bin-path)
RELEASE_BIN_DIR = $(shell $(SWIFT) build -c release --show-bin-path)
export SWITCHBOARD_PG_PORT ?= 54329

.PHONY: run test build release deps db db-fast stop-db migrate format lint clean

# The demo runs the optimized build, as an operator would; the tests use the debug build.
run: deps release db
	@bash scripts/run-demo.sh "$(RELEASE_BIN_DIR)/switchboard"

test: deps db-fast build lint
	SWITCHBOARD_TEST_DATABASE="$$(bash scripts/pg.sh conninfo switchboard_test)" \
	SWITCHBOARD_BIN="$(BIN_DIR)/switchboard" \
	$(SWIFT) test --disable-xctest

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release

deps:
	@bash scripts/install-deps.sh

db:
	@bash scripts/pg.sh start

db-fast:
	@bash scripts/pg.sh start --fast

stop-db:
	@bash scripts/pg.sh stop

migrate: build db
	SWITCHBOARD_DATABASE="$$(bash scripts/pg.sh conninfo switchboard)" "$(BIN_DIR)/switchboard" migrate

format:
	$(SWIFT) format -i -r Sources Tests

lint:
	$(SWIFT) format lint --strict -r Sources Tests

clean:
	-@bash scripts/pg.sh stop
	rm -rf .run .build
