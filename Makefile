# tripindex: the two set-up commands are `make demo` and `make test`.
SWIFT ?= swift
TOOL := .build/release/tripindex
DEMO := out/demo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

FUZZ_TARGETS := npy vec texmex labels model json datafile filter resp
FUZZ_SECONDS ?= 300
FUZZ_TOOL := .build/fuzz/debug/tripindex-fuzz

.PHONY: deps test-deps build release lint docs test stress fuzz fuzz-build demo bench compare-faiss compare-ann compare-ann-1m check-exact clean

# Installs the system libraries tripindex links (LMDB, OpenBLAS, HDF5, zlib, hiredis) when
# they are missing.
deps:
	@if ! pkg-config --exists lmdb openblas hdf5 zlib hiredis 2>/dev/null; then \
	  echo "installing liblmdb-dev, libopenblas-dev, libhdf5-dev, zlib1g-dev and libhiredis-dev"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq liblmdb-dev libopenblas-dev libhdf5-dev zlib1g-dev libhiredis-dev pkg-config; \
	fi

# The tests also run Debian's chromium (headless) on the ranked-list pages, and real Redis
# servers (a local cluster: Benchmarks/scripts/redis-cluster.sh).
test-deps: deps
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1; then \
	  echo "installing chromium (headless browser for the ranked-list page tests) and redis-server (the Redis Cluster tests)"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium redis-server; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Style: .swift-format (2-space indent, 100 columns, no force-unwrap or force-try in Sources/);
# and the Architecture article's module and store tables against Package.swift and the schema.
lint:
	$(SWIFT) format lint --strict -r Sources Tests Benchmarks/Benchmarks
	python3 Tests/ArchitectureCheck/check_architecture.py

# The DocC catalog (Sources/TripIndex/TripIndex.docc: the Architecture article and the API),
# warnings treated as errors, into .build/docs (open .build/docs/index.html through a web server,
# or `swift package --disable-sandbox preview-documentation --target TripIndex`).
docs:
	$(SWIFT) package generate-documentation --target TripIndex --warnings-as-errors \
	  --output-path .build/docs

test: test-deps lint
	$(SWIFT) test
	$(MAKE) fuzz FUZZ_SECONDS=15

# The concurrency stress test for longer (make test runs it for 40 s): build, delete, index,
# tune, check --repair and compact at once on one store; STRESS_SEED picks the schedule.
STRESS_SECONDS ?= 600
STRESS_SEED ?= 22
stress: deps
	TRIPINDEX_STRESS_SECONDS=$(STRESS_SECONDS) TRIPINDEX_STRESS_SEED=$(STRESS_SEED) \
	  $(SWIFT) test --filter ConcurrencyStressTests

# libFuzzer (with the address sanitizer) on every input format and JSON the tool reads, seeded
# (-sanitize=fuzzer alone leaves Swift code without coverage counters: they are asked for),
# from Tests/FuzzCorpus/TARGET; FUZZ_SECONDS per target (default 300; `make test` runs 15).
# New inputs go to .build/fuzz-corpus, crashes to .build/fuzz-crashes (the run then fails).
fuzz-build: deps
	@mkdir -p .build
	@$(SWIFT) build --product tripindex-fuzz --sanitize=fuzzer --sanitize=address \
	  -Xswiftc -DFUZZING -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
	  --scratch-path .build/fuzz > .build/fuzz-build.log 2>&1 \
	  || { grep -v "Cannot export local symbol" .build/fuzz-build.log | tail -30; exit 1; }
	@echo "built $(FUZZ_TOOL) (libFuzzer + address sanitizer)"

fuzz: fuzz-build
	@mkdir -p .build/fuzz-crashes
	@for target in $(FUZZ_TARGETS); do \
	  mkdir -p .build/fuzz-corpus/$$target; \
	  FUZZ_TARGET=$$target $(FUZZ_TOOL) .build/fuzz-corpus/$$target Tests/FuzzCorpus/$$target \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=4096 -timeout=20 \
	    -artifact_prefix=.build/fuzz-crashes/$$target- -print_final_stats=1 \
	    > .build/fuzz-$$target.log 2>&1 || { tail -40 .build/fuzz-$$target.log; exit 1; }; \
	  echo "fuzz $$target: $$(grep -o 'stat::number_of_executed_units: *[0-9]*' .build/fuzz-$$target.log | grep -o '[0-9]*$$') executions in $(FUZZ_SECONDS) s, 0 crashes"; \
	done

# Builds stores from the shipped data sets, queries them, and runs the re-ID benchmark.
demo: release
	@rm -rf $(DEMO) && mkdir -p $(DEMO)
	@echo "== optdigits: 1,797 handwritten digits (64-d), pid = the digit"
	$(TOOL) build datasets/optdigits --store $(DEMO)/digits.lmdb
	@echo "== the 5 nearest digits of the first three digits of the set (each finds itself first)"
	$(TOOL) query datasets/probes/digits-first3.vec -k 5 --store $(DEMO)/digits.lmdb
	@echo "== every digit ranked against the others (retrieval protocol), ranked lists drawn as 8x8 pictures"
	$(TOOL) eval --query datasets/optdigits --protocol retrieval --image-shape 8x8 --report $(DEMO)/digits-eval
	@echo "== synthetic re-ID: gallery of the shipped set (Market-1501 names give pid and camera)"
	$(TOOL) build datasets/synth-reid/gallery --store $(DEMO)/synth-gallery.lmdb
	@echo "== the 5 nearest gallery images of one query image (pid 201, camera 1), raw features"
	$(TOOL) query datasets/synth-reid/query/0201_c1s1_002017_00.fvecs -k 5 --store $(DEMO)/synth-gallery.lmdb
	@echo "== the re-ID set's queries against that gallery store (Market-1501 protocol), ranked lists as labelled tiles"
	$(TOOL) eval --query datasets/synth-reid/query --gallery-store $(DEMO)/synth-gallery.lmdb --report $(DEMO)/synth-eval
	@echo "== benchmark on the shipped re-ID set: triplet (batch-hard, soft margin) vs softmax surrogate vs joint vs raw"
	@echo "   features, same trunk and budget, 3 seeds each, exact and LSH search (about 20 s)"
	$(TOOL) benchmark datasets/synth-reid --report $(DEMO)/benchmark
	@echo "== report and plots: $(DEMO)/benchmark/report.md, cmc.svg, rank1-vs-qps.svg, map-vs-qps.svg"
	@echo "== ranked lists (open in a browser, offline): $(DEMO)/digits-eval/ranklists.html,"
	@echo "   $(DEMO)/synth-eval/ranklists.html, $(DEMO)/benchmark/ranklists.html (triplet vs surrogate vs joint)"

# package-benchmark suites (a separate package; see "Benchmarks" in README.md).
bench: deps
	cd Benchmarks && $(SWIFT) package benchmark

# Exact search against FAISS on 100k x 128 clustered vectors (needs numpy and faiss-cpu).
compare-faiss: release
	python3 Benchmarks/scripts/make_clustered.py out/clustered-100k
	python3 Benchmarks/scripts/compare_exact_faiss.py out/clustered-100k

# Approximate search side by side (tripindex exact, tuned and LSH sweep; FAISS exact, LSH+refine
# and HNSW; hnswlib; Annoy; FALCONN) on four 100k sets of different structure. Needs numpy,
# faiss-cpu, scikit-learn and pillow; hnswlib, annoy and falconn are used when installed.
ANN := out/ann
compare-ann: release
	python3 Benchmarks/scripts/make_patches.py $(ANN)/patches100k
	python3 Benchmarks/scripts/make_patches.py $(ANN)/patchescn100k --contrast-normalise
	python3 Benchmarks/scripts/make_clustered.py $(ANN)/clustered100k
	Benchmarks/scripts/make_reid_embeddings.sh $(ANN)/reid100k
	for set in patches100k patchescn100k clustered100k reid100k; do \
	  python3 Benchmarks/scripts/ann_suite.py $(ANN)/$$set --queries 5000 --runs 2 || exit 1; done

# The same at 1M (patches with rotations and mirrors, clustered): about an hour on 2 cores.
compare-ann-1m: release
	python3 Benchmarks/scripts/make_patches.py $(ANN)/patches1m --base 1000000
	python3 Benchmarks/scripts/make_clustered.py $(ANN)/clustered1m --base 1000000
	for set in patches1m clustered1m; do \
	  python3 Benchmarks/scripts/ann_suite.py $(ANN)/$$set --queries 1000 --runs 2 || exit 1; done

# query --json on every shipped data set against a float64 numpy brute force (needs numpy).
check-exact: release
	python3 Benchmarks/scripts/check_exact_numpy.py

clean:
	rm -rf .build out
