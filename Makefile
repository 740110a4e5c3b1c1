# mentis: two commands.
#   make run   — install what is missing, build, start the whole stack under .run/
#   make test  — install what is missing, build with ASan+UBSan, run every test
# More: make build, make bench, make fuzz, make format, make clean.

JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
BUILD_DIR ?= build/release
TEST_DIR  ?= build/test
WERROR    := $(if $(CI),ON,OFF)

.PHONY: run test build bench fuzz format clean deps-build deps-run deps-test deps-bench

# Explicit rules: make skips pattern rules for .PHONY targets.
deps-build:
	@scripts/deps.sh build
deps-run:
	@scripts/deps.sh run
deps-test:
	@scripts/deps.sh test
deps-bench:
	@scripts/deps.sh bench

build: deps-build
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMENTIS_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target binaries

run: deps-run build
	@MENTIS_BIN_DIR=$(BUILD_DIR) scripts/stack.sh run

test: deps-test
	@cmake -S . -B $(TEST_DIR) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	  -DMENTIS_SANITIZE=ON -DMENTIS_FUZZ=ON -DMENTIS_WERROR=$(WERROR) >/dev/null
	@cmake --build $(TEST_DIR) -j $(JOBS)
	@cd $(TEST_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench: deps-bench build
	@MENTIS_BIN_DIR=$(BUILD_DIR) bench/run.sh

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf build
