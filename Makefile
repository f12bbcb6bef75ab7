# Every target sets itself up: venv, Python packages, and the Debian packages it needs.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBS := mtools dosfstools exfatprogs exfat-fuse mosquitto espeak-ng sox ffmpeg \
	postgresql-15 chromium chromium-driver fonts-wqy-microhei xorriso
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup run test lint bench crashtest clean debs install uninstall firmware

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

# The whole dock at work until Ctrl-C: local broker, object store and registry on loopback,
# eight simulated bays and officers coming and going (README, "make run"); data in .run/.
run: setup
	$(BIN)/python -m dock.localrun --dir .run

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

# -- On the Pi (as root): `sudo make install`, `sudo make uninstall` -------------------------
# DESTDIR stages everything under a prefix (the tests do); there SYSTEMCTL=: and no user is
# made. INSTALL_VENV=no keeps an existing /opt venv (or skips it when staging).
DESTDIR ?=
PREFIX_OPT := $(DESTDIR)/opt/bodycam-dock
UNIT_DIR := $(DESTDIR)/etc/systemd/system
UDEV_DIR := $(DESTDIR)/etc/udev/rules.d
SYSTEMCTL ?= systemctl
UDEVADM ?= udevadm
INSTALL_VENV ?= yes
UNITS := bodycam-dock.service bodycam-dock-mount.socket bodycam-dock-mount@.service \
	dock-store-verify.service dock-store-verify.timer
CENTRAL_UNITS := bodycam-registry.service

install:
	@[ -n "$(DESTDIR)" ] || getent passwd dock >/dev/null || \
	  useradd --system --user-group --home-dir /var/lib/bodycam-dock --shell /usr/sbin/nologin dock
	install -d -m 0755 $(PREFIX_OPT) $(UNIT_DIR) $(UDEV_DIR)
	install -d -m 0750 $(DESTDIR)/etc/bodycam-dock
	install -d -m 0700 $(DESTDIR)/var/lib/bodycam-dock
	@[ -n "$(DESTDIR)" ] || chown dock:dock /var/lib/bodycam-dock
	@[ -n "$(DESTDIR)" ] || chgrp dock /etc/bodycam-dock
	@if [ "$(INSTALL_VENV)" = yes ]; then \
	  $(PY) -m venv $(PREFIX_OPT)/.venv && \
	  $(PREFIX_OPT)/.venv/bin/pip install -q '.[pi]'; fi
	@[ -e $(DESTDIR)/etc/bodycam-dock/dock.toml ] || \
	  install -m 0640 dock.example.toml $(DESTDIR)/etc/bodycam-dock/dock.toml
	install -m 0644 $(addprefix systemd/,$(UNITS) $(CENTRAL_UNITS)) $(UNIT_DIR)/
	install -m 0644 systemd/99-bodycam-dock.rules $(UDEV_DIR)/
	@# The GPIO chip's group, where this OS has one (a missing group fails the whole unit).
	@if getent group gpio >/dev/null; then \
	  install -d -m 0755 $(UNIT_DIR)/bodycam-dock.service.d && \
	  printf '[Service]\nSupplementaryGroups=gpio\n' > $(UNIT_DIR)/bodycam-dock.service.d/gpio.conf; fi
	@if [ -z "$(DESTDIR)" ]; then \
	  $(UDEVADM) control --reload && $(UDEVADM) trigger --subsystem-match=tty && \
	  $(SYSTEMCTL) daemon-reload && \
	  $(SYSTEMCTL) enable --now bodycam-dock-mount.socket bodycam-dock.service dock-store-verify.timer; fi

# Removes the program, units and rules; keeps the evidence and database (/var/lib/bodycam-dock),
# the config in /etc and the dock user, who owns that evidence.
uninstall:
	@if [ -z "$(DESTDIR)" ]; then \
	  $(SYSTEMCTL) disable --now bodycam-dock.service dock-store-verify.timer \
	    bodycam-dock-mount.socket || true; fi
	rm -f $(addprefix $(UNIT_DIR)/,$(UNITS) $(CENTRAL_UNITS)) $(UDEV_DIR)/99-bodycam-dock.rules
	rm -rf $(UNIT_DIR)/bodycam-dock.service.d $(PREFIX_OPT)
	@if [ -z "$(DESTDIR)" ]; then $(SYSTEMCTL) daemon-reload && $(UDEVADM) control --reload; fi
	@echo "kept: $(DESTDIR)/var/lib/bodycam-dock (evidence, database) and $(DESTDIR)/etc/bodycam-dock"
