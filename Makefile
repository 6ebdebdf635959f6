# Entry points for people and CI. `make demo` and `make test` each install what
# is missing (Debian packages only, and only when something is missing),
# configure, build (Release) and then run the main job / every test.
BUILD ?= build
SAN_BUILD ?= build-asan
DEPS := cmake ninja-build g++ libopenblas-dev libfmt-dev nlohmann-json3-dev libcli11-dev \
        libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev libdw-dev

.PHONY: deps configure build test demo sanitize format clean

deps:
	@missing=$$(for p in $(DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing missing packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

configure: deps
	@[ -f $(BUILD)/build.ninja ] || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

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

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
