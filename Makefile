# pribox — the two set-up commands of the README are `make run` and `make test`.
# Each one installs what it needs on a fresh Debian 12 machine (as root), then runs.

PYTHON  ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
# Debian packages: the toolchain for the C core, the codecs it links, and the real peers the
# tests talk to (libpri as the far end of Q.931, spandsp for DTMF, tshark for traces, lrzsz for
# console uploads, espeak-ng for synthetic speech in the DTMF talk-off tests, iproute2 for the
# network tests' namespaces, RAUC with D-Bus, openssl and squashfs-tools for signed A/B updates).
# sip-tester (SIPp) is the real SIP peer of the SIP core's interop tests (OPTIONS, REGISTER with
# digest auth on 127.0.0.1) and the load generator of the SIP benchmarks.
# baresip: a real SIP phone for the user agent's interop test (registers with digest auth on
# 127.0.0.1 and answers a call from the box; Debian 12 has 1.0.0, no GUI pulled in).
# linphone-cli (linphone-daemon): a second real SIP user agent, for G.729 (Debian's mediastreamer
# links bcg729) and DTMF by SIP INFO against the box's IVR.
# libsrtp2-dev: SRTP (RFC 3711) in the C RTP legs, keyed by SDES; the well-kept library
# baresip, linphone and Asterisk use.
# kamailio: the SIP proxy in front of several boxes (dispatcher with OPTIONS probing,
# docs/kamailio/dispatcher.cfg), started by its test on loopback addresses.
# rsyslog: the remote syslog tests start a private rsyslogd on 127.0.0.1 (imudp/imtcp, own config).
# e2fsprogs: the bench's data-partition disk for the image (mkfs.ext4 -L pribox-data).
# chromium + chromium-driver: the agent desktop's, wallboard's and softphone's tests run Debian's
# own browser headless through chromedriver (Selenium), in a loopback-only network namespace (its
# fake microphone plays a WAV for the softphone); fonts-nanum: Korean glyphs for that browser (the
# pages and docs/*.png are in Korean).
APT_PACKAGES := build-essential python3-dev python3-venv pkg-config \
                libpri-dev libbcg729-dev libspandsp-dev libsrtp2-dev tshark lrzsz espeak-ng iproute2 \
                rauc dbus openssl squashfs-tools sip-tester baresip linphone-cli kamailio \
                rsyslog e2fsprogs chromium chromium-driver fonts-nanum
# Only the image targets need these: debootstrap to build the image (its chroot builds the DAHDI
# modules with Debian's dahdi-dkms for the image's kernel), qemu to boot it.
IMAGE_PACKAGES := debootstrap qemu-system-x86
PACKAGES = $(APT_PACKAGES)
image image-test image-dahdi-test: PACKAGES = $(APT_PACKAGES) $(IMAGE_PACKAGES)

.PHONY: run test bench build deps apt venv clean image image-test image-dahdi-test prompts cti-soak \
        bench-run soak soak-libpri

# The default IVR flow's prompts (Korean speech from espeak-ng, converted as the box plays them)
# into its prompt directory, `[ivr] prompt_dir`; prompts already there are kept.
PROMPT_DIR ?= /var/lib/pribox/prompts

run: deps prompts
	$(VENV)/bin/pribox demo --prompt-dir $(PROMPT_DIR)

prompts: deps
	$(VPY) -m pbx_cti.ivr.prompts_setup $(PROMPT_DIR)

test: deps
	$(VPY) -m pytest -q

# The whole contact center over random interleavings at length (tests/acd, hypothesis): 10,000
# runs as 20 processes of 500 (hypothesis keeps what each run chose, so one process of 10,000
# grows past a gigabyte); CTI_SOAK_CHUNKS=N for N x 500.  About 0.4 s a run on one core.
CTI_SOAK_CHUNKS ?= 20
cti-soak: deps
	@for chunk in $$(seq $(CTI_SOAK_CHUNKS)); do \
	  echo "== cti-soak: runs $$(( (chunk - 1) * 500 + 1 ))..$$(( chunk * 500 ))"; \
	  PRIBOX_LONG=500 $(VPY) -m pytest -q tests/acd -k property || exit 1; \
	done

bench: deps
	@for b in bench/*.py; do echo "== $$b"; $(VPY) $$b || exit 1; done

# The test bench (hil_tests/bench, docs/bench.md): `bench-run` is the whole measurement (load on
# 1, 4 and 8 spans in real time, faults, a day's soak, audio) with its HTML report in
# out/bench-report; `soak` a day of a center's traffic on the virtual clock (minutes of real
# time); `soak-libpri` an hour in real time with libpri as the carrier, never part of a bench run.
SOAK_HOURS ?= 24
SOAK_MINUTES ?= 60
bench-run: deps
	$(VENV)/bin/pribox bench run --report out/bench-report

soak: deps
	$(VPY) -m hil_tests.bench soak --hours $(SOAK_HOURS)

soak-libpri: deps
	$(VPY) -m hil_tests.bench soak --real-time --minutes $(SOAK_MINUTES)

# The firmware image (root: debootstrap and chroot; cached base in out/image/cache) and its boot
# test under qemu, which the default `make test` leaves out.
image: deps
	$(VPY) -m images.build_image --out out/image --keys out/keys

image-test: deps
	$(VPY) -m pytest -q -s tests/image/test_image_boot.py

# DAHDI without a card: the image's kernel loads dahdi-dkms's modules, two loop spans carry a
# call between pribox's DAHDI backend and libpri (hil_tests/dahdi_loop.py; minutes under qemu).
image-dahdi-test: deps
	$(VPY) -m pytest -q -s tests/image/test_image_dahdi.py

# Rebuild the C core in place after editing dsp/c (pip install does this too).
build:
	PYTHONWARNINGS=ignore $(VPY) setup.py -q build_ext --inplace

deps: apt venv

apt:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages: $$missing (run as root, or apt-get install them)"; exit 1; fi; \
	  echo "installing Debian packages: $$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	fi

venv:
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	@$(VPY) -m pip install -q --upgrade pip >/dev/null
	$(VPY) -m pip install -q -e '.[test]'

clean:
	rm -rf $(VENV) build *.egg-info dsp/_core.* .pytest_cache
