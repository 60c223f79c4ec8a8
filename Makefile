# The two set-up commands of the README: `make demo` (the main job) and `make test`.
# Each installs what it needs first (scripts/setup.sh is idempotent).
PY := .venv/bin/python
LIVEFIT := .venv/bin/livefit

.PHONY: setup demo test lint bench

setup:
	bash scripts/setup.sh

demo: setup
	$(LIVEFIT) demo --out out/demo

lint: setup
	.venv/bin/ruff check livefit tests benchmarks
	.venv/bin/ruff format --check livefit tests benchmarks
	.venv/bin/lint-imports --no-cache

# The tests also need Debian's chromium (the web app's browser test), the pose path's
# estimator (ai-edge-litert + MediaPipe Pose's models) and the real-people clips (the smoke test
# of benchmarks/real_people.py), which they then require. Three
# pytest-xdist workers on two cores (each test's process has one torch thread; a third worker
# fills the time the others wait on real-time playback, servers and subprocesses; on 2026-12-07
# 290-305 s in a fresh clone, 327-333 s earlier in the working tree, against 313-358 s with two
# workers, alternating runs: the machine's load varies that much), each handed the next test as it
# frees up (slow ones first: tests/conftest.py); the expensive inputs are built once for all of
# them (tests/run_once.py), and a module marked xdist_group runs on one worker (its
# module-scoped fixtures built once; pytest < 9.2, see pyproject.toml).
test:
	bash scripts/setup.sh --browser --pose --real-people
	.venv/bin/ruff check livefit tests benchmarks
	.venv/bin/ruff format --check livefit tests benchmarks
	.venv/bin/lint-imports --no-cache
	LIVEFIT_REQUIRE_BROWSER=1 LIVEFIT_REQUIRE_POSE=1 LIVEFIT_REQUIRE_REAL_PEOPLE=1 $(PY) -m pytest -n 3 --dist loadgroup --no-loadscope-reorder --durations=20
