# Entry points for people and CI. `make demo` and `make test` each install what
# is missing (Debian packages only, and only when something is missing),
# configure, build (Release) and then run the main job / every test.
BUILD ?= build
SAN_BUILD ?= build-asan
DEPS := cmake ninja-build g++ libopenblas-dev libfmt-dev nlohmann-json3-dev libcli11-dev \
        libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev libdw-dev python3 clang-format \
        libprotobuf-dev libonnx-dev libonnx-testdata openmpi-bin libopenmpi-dev

# The fuzz targets need clang and its libFuzzer/sanitizer runtimes.
FUZZ_DEPS := clang-14 libclang-rt-14-dev
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= -1
FUZZ_SEED ?= 0

# WERROR=ON (CI) turns warnings into errors.
WERROR ?= OFF

.PHONY: deps fuzz-deps configure build test demo sanitize fuzz fuzz-smoke lint format clean

# install-missing PACKAGES: apt-get install those not installed yet.
define install-missing
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing missing packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call install-missing,$(DEPS))

fuzz-deps: deps
	$(call install-missing,$(FUZZ_DEPS))

configure: deps
	@[ -f $(BUILD)/build.ninja ] || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DAOTGRAD_WERROR=$(WERROR)

build: configure
	cmake --build $(BUILD)

test: build
	cd $(BUILD) && ctest --output-on-failure -j2

demo: build
	./$(BUILD)/aotgrad demo

# ASan + UBSan build of the whole test suite.
sanitize: deps
	@[ -f $(SAN_BUILD)/build.ninja ] || cmake -S . -B $(SAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DAOTGRAD_SANITIZE=ON
	cmake --build $(SAN_BUILD)
	cd $(SAN_BUILD) && ctest --output-on-failure -j2

# libFuzzer targets (fuzz/) under ASan + UBSan, each for FUZZ_SECONDS, seeded with
# valid files: `make fuzz FUZZ_SECONDS=600`. fuzz-smoke is CI's short run.
fuzz: build fuzz-deps
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD) -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAOTGRAD_FUZZ=ON
	cmake --build $(FUZZ_BUILD) --target graph_file_fuzz case_file_fuzz checkpoint_fuzz onnx_file_fuzz
	fuzz/run.sh $(BUILD) $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_RUNS) $(FUZZ_SEED)

# CI's smoke run is reproducible: a fixed seed and a fixed number of executions per
# target (within 45 s each), so what passes here passes there; `make fuzz` explores.
fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=45 FUZZ_RUNS=30000 FUZZ_SEED=1

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

# The tree as docs/ARCHITECTURE.md draws it: include layering, the line budget
# (tools/lint/budget.txt may only shrink) and clang-format.
lint: deps
	python3 tools/lint/check_tree.py layering
	python3 tools/lint/check_tree.py budget
	python3 tools/lint/check_tree.py docs
	clang-format --dry-run -Werror $$(git ls-files '*.cpp' '*.h')
	@echo "lint: clean"

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD)
