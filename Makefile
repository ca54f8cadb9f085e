# Two commands: `make run` and `make test` (see README.md). Everything else is a helper.
SHELL := /bin/bash
MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc)
SHARED ?= $(abspath ../shared)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
CMAKE_COMMON = -DPKDNS_SHARED_DIR=$(SHARED) -DPKDNS_DHT_PEER_DIR=$(abspath $(BUILD))/dht-peer
CLANG = -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16

.PHONY: all deps build asan fuzz dht-peer run test test-unit test-asan test-fuzz bench format clean

all: build

deps:
	@bash packaging/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_COMMON) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPKDNS_SANITIZE=ON $(CLANG) $(CMAKE_COMMON) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPKDNS_FUZZ=ON \
	  -DPKDNS_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CLANG) $(CMAKE_COMMON) >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

# The interop DHT peer (Node.js); shared/ is read-only, so it is installed in the build tree.
dht-peer: deps
	@if [ ! -d $(BUILD)/dht-peer/node_modules ]; then \
	  mkdir -p $(BUILD) && rm -rf $(BUILD)/dht-peer && cp -r $(SHARED)/tools/dht-peer $(BUILD)/dht-peer && \
	  chmod -R u+w $(BUILD)/dht-peer && (cd $(BUILD)/dht-peer && npm ci --no-audit --no-fund --loglevel=error); \
	fi

# Starts the resolver on 127.0.0.1:5353 with the built-in defaults; needs no root (the cache
# lives in the build tree).
run: build
	./$(BUILD)/pkdns serve --listen 127.0.0.1:5353 --cache $(abspath $(BUILD))/pkdns-run.db

test-unit: build dht-peer
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure

test-asan: asan dht-peer
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest -j $(JOBS) --output-on-failure

test-fuzz: fuzz
	cd $(FUZZ_BUILD) && ctest -j $(JOBS) --output-on-failure

# Fuzz first (short, bounded), then the sanitizer suite, then the normal suite, whose ctest
# summary is the last thing printed.
test: build asan fuzz dht-peer
	$(MAKE) --no-print-directory test-fuzz
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-unit

# Benchmarks against peers (not part of `make test`): installs the peers first.
bench: build dht-peer
	@bash packaging/install-deps.sh --bench
	bash bench/resolver.sh --pkdns $(BUILD)/pkdns
	bash bench/doh.sh --pkdns $(BUILD)/pkdns
	python3 bench/dht-lookup.py --pkdns $(BUILD)/pkdns --peer $(BUILD)/dht-peer

format:
	find common conf pkarr storage resolver tests bench -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
