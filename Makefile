# zipnn-wasm: `make demo` runs the main job, `make test` sets up and runs every test.
SHELL := /bin/bash
WASM := target/wasm/wasm32-unknown-unknown/release/zipnn_wasm.wasm

.PHONY: all build cli wasm pkg demo test setup models bench bench-fetch bench-peers clean
# One step at a time even under -j: setup, the model fetch and the builds share apt, models/ and target/.
.NOTPARALLEL:

all: build

setup:
	scripts/setup.sh

models:
	scripts/fetch-models.sh

cli:
	cargo build --release --bin zipnn

# wasm module + JS glue into pkg/dist (generated, not committed).
wasm:
	scripts/build-wasm.sh

build: cli wasm

pkg: build
	cd pkg && npm pack --pack-destination ../target >/dev/null && ls ../target/zipnn-wasm-*.tgz

demo: setup models build
	scripts/demo.sh

test: setup models
	scripts/test.sh

bench: setup models build
	scripts/bench.sh

# fetchModel over local HTTP vs decompress in memory (node and Chromium), peak memory, .wasm size.
bench-fetch: setup models build
	nice node bench/fetch-bench.mjs

bench-peers: setup models cli
	scripts/bench-peers.sh

clean:
	cargo clean
	rm -rf pkg/dist
