# Versioned builds, release artifacts, packages and the OCI image (issue 20).
#
#   make build       the binary, stamped with the version from git
#   make release     static binaries for every target, tarballs, .deb/.rpm,
#                    sha256sums.txt, all in dist/
#   make image       the OCI image (podman), from dist/'s linux/amd64 binary
#   make licenses    refresh THIRD_PARTY_LICENSES.md and NOTICE
#   make package-test  release + image, then install and inspect them
#
# Release procedure: CONTRIBUTING.md.

GO ?= go

# Version stamping through prometheus/common's version package. On a tag
# vX.Y.Z the version is X.Y.Z; anywhere else it is "dev", and the revision
# says which commit (with -modified for uncommitted changes).
GIT_TAG    := $(shell git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null)
VERSION    ?= $(if $(GIT_TAG),$(patsubst v%,%,$(GIT_TAG)),dev)
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null)$(shell git rev-parse HEAD >/dev/null 2>&1 && ! git diff --quiet HEAD -- 2>/dev/null && echo -modified)
BRANCH     ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null)
# The commit's date, not the clock's, so a rebuild of a commit is the same.
BUILD_DATE ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d-%H:%M:%S 2>/dev/null)
BUILD_USER ?= $(shell id -un 2>/dev/null)@$(shell uname -n 2>/dev/null)
VERSION_PKG := github.com/prometheus/common/version
VERSION_LDFLAGS := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildUser=$(BUILD_USER) -X $(VERSION_PKG).BuildDate=$(BUILD_DATE)

# Packages need a version that sorts: X.Y.Z on a tag, else a pre-release of
# 0.0.0 ordered by commit time (nfpm writes it as 0.0.0~dev.… for dpkg and rpm).
COMMIT_TIME  := $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S 2>/dev/null)
SHORT_REV    := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
PKG_VERSION  ?= $(if $(GIT_TAG),$(VERSION),0.0.0-dev.$(COMMIT_TIME).g$(SHORT_REV))

DIST ?= dist
# OS-ARCH as in the tarball names; GOARM from the armvN suffix.
RELEASE_TARGETS ?= linux-amd64 linux-arm64 linux-armv7 linux-armv6 darwin-arm64 windows-amd64
# Packages: nfpm arch per Linux target. dpkg's armhf takes the ARMv6 build,
# which runs on every armhf system, Raspberry Pi OS on a Pi Zero/1 included.
DEB_TARGETS ?= linux-amd64:amd64 linux-arm64:arm64 linux-armv6:arm6
RPM_TARGETS ?= linux-amd64:amd64 linux-arm64:arm64 linux-armv7:arm7 linux-armv6:arm6
NFPM ?= $(GO) tool nfpm
PODMAN ?= podman
IMAGE ?= localhost/restartinator:$(VERSION)

release_goarch = $(patsubst armv%,arm,$(word 2,$(subst -, ,$(1))))

# Leave the including Makefile's default goal alone (restored at the end).
release_saved_default_goal := $(.DEFAULT_GOAL)

.PHONY: release release-binaries release-docs release-tarballs release-packages release-sums image licenses package-test

## release: static binaries for every target, tarballs, .deb and .rpm
## packages and sha256sums.txt in dist/ (needs only the module proxy)
release: release-sums

release-binaries:
	@rm -rf $(DIST) && mkdir -p $(DIST)
	@set -e; for t in $(RELEASE_TARGETS); do \
		goos=$${t%%-*}; arch=$${t#*-}; goarch=$$arch; goarm=""; exe=""; \
		case $$arch in armv*) goarch=arm; goarm=$${arch#armv};; esac; \
		[ $$goos = windows ] && exe=.exe; \
		echo "build $$t"; \
		mkdir -p $(DIST)/build/$$t; \
		CGO_ENABLED=0 GOOS=$$goos GOARCH=$$goarch GOARM=$$goarm \
			$(GO) build -trimpath -ldflags '-s -w $(VERSION_LDFLAGS)' -o $(DIST)/build/$$t/restartinator$$exe ./cmd/restartinator; \
	done

# The man page and completions come from a build for this machine.
release-docs: release-binaries
	@mkdir -p $(DIST)/build/docs/completions
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(VERSION_LDFLAGS)' -o $(DIST)/build/docs/restartinator ./cmd/restartinator
	$(DIST)/build/docs/restartinator --help-man > $(DIST)/build/docs/restartinator.1
	gzip -9n < $(DIST)/build/docs/restartinator.1 > $(DIST)/build/docs/restartinator.1.gz
	for sh in bash zsh fish; do $(DIST)/build/docs/restartinator completion $$sh > $(DIST)/build/docs/completions/restartinator.$$sh; done
	$(GO) run ./tools/licenses -list $(DIST)/build/docs/THIRD_PARTY_LICENSES.md -notice $(DIST)/build/docs/NOTICE -check

# restartinator-VERSION.OS-ARCH.tar.gz: the binary, LICENSE, NOTICE, README,
# CHANGELOG, examples, man page and completions, in one directory.
release-tarballs: release-docs
	@set -e; for t in $(RELEASE_TARGETS); do \
		name=restartinator-$(VERSION).$$t; d=$(DIST)/build/tar/$$name; \
		mkdir -p $$d/examples $$d/completions; \
		cp $(DIST)/build/$$t/restartinator* $$d/; \
		cp LICENSE README.md CHANGELOG.md $(DIST)/build/docs/NOTICE $(DIST)/build/docs/THIRD_PARTY_LICENSES.md $$d/; \
		cp -R examples/. $$d/examples/; rm -f $$d/examples/*_test.go; \
		cp packaging/restartinator.yml $$d/examples/restartinator-minimal.yml; \
		cp $(DIST)/build/docs/restartinator.1 $$d/; \
		cp $(DIST)/build/docs/completions/* $$d/completions/; \
		tar -C $(DIST)/build/tar --owner=0 --group=0 --numeric-owner --sort=name \
			--mtime='@'"$$(git log -1 --format=%ct 2>/dev/null || date +%s)" -czf $(DIST)/$$name.tar.gz $$name; \
		echo "tarball $(DIST)/$$name.tar.gz"; \
	done

# nfpm reads packaging/nfpm.yaml with the stage directory and arch in env.
release-packages: release-docs
	@set -e; for pair in $(DEB_TARGETS); do \
		t=$${pair%%:*}; a=$${pair##*:}; \
		STAGE=$(DIST)/build/$$t DOCS=$(DIST)/build/docs NFPM_ARCH=$$a PKG_VERSION=$(PKG_VERSION) \
			$(NFPM) package --config packaging/nfpm.yaml --packager deb --target $(DIST)/; \
	done
	@set -e; for pair in $(RPM_TARGETS); do \
		t=$${pair%%:*}; a=$${pair##*:}; \
		STAGE=$(DIST)/build/$$t DOCS=$(DIST)/build/docs NFPM_ARCH=$$a PKG_VERSION=$(PKG_VERSION) \
			$(NFPM) package --config packaging/nfpm.yaml --packager rpm --target $(DIST)/; \
	done

release-sums: release-tarballs release-packages
	cd $(DIST) && sha256sum *.tar.gz *.deb *.rpm > sha256sums.txt
	@echo "release $(VERSION) ($(PKG_VERSION) for packages) in $(DIST)/:"; ls -1 $(DIST) | grep -v '^build$$'

## image: the OCI image from Containerfile (FROM scratch), built with
## podman from dist/'s linux-amd64 binary (IMAGE_TARGET for another)
IMAGE_TARGET ?= linux-amd64
image:
	@test -x $(DIST)/build/$(IMAGE_TARGET)/restartinator || { echo "image: run make release first"; exit 1; }
	rm -rf $(DIST)/build/image && mkdir -p $(DIST)/build/image/state
	cp $(DIST)/build/$(IMAGE_TARGET)/restartinator packaging/restartinator.yml packaging/image/passwd packaging/image/group $(DIST)/build/image/
	cp /etc/ssl/certs/ca-certificates.crt $(DIST)/build/image/
	@# The image this tag named before is removed once the tag moves, so
	@# repeated builds (CI) do not pile up unnamed images.
	old=$$($(PODMAN) image inspect --format '{{.Id}}' $(IMAGE) 2>/dev/null || true); \
	$(PODMAN) build --pull=never --platform linux/$(call release_goarch,$(IMAGE_TARGET)) \
		--label org.opencontainers.image.version=$(VERSION) --label org.opencontainers.image.revision=$(REVISION) \
		-f Containerfile -t $(IMAGE) $(DIST)/build/image && \
	new=$$($(PODMAN) image inspect --format '{{.Id}}' $(IMAGE)) && \
	if [ -n "$$old" ] && [ "$$old" != "$$new" ]; then $(PODMAN) rmi "$$old" >/dev/null 2>&1 || true; fi

## licenses: refresh THIRD_PARTY_LICENSES.md and NOTICE from the module cache
licenses:
	$(GO) run ./tools/licenses -list THIRD_PARTY_LICENSES.md -notice NOTICE -check

## package-test: make release and make image, then install the .deb (as
## root), inspect the .rpm, run the arm binaries under qemu and check the
## image (packaging/package_test.go)
package-test: release image
	RESTARTINATOR_DIST=$(abspath $(DIST)) RESTARTINATOR_IMAGE=$(IMAGE) RESTARTINATOR_VERSION=$(VERSION) \
		RESTARTINATOR_REVISION=$(REVISION) RESTARTINATOR_PKG_VERSION=$(PKG_VERSION) \
		$(GO) test -count=1 -v -timeout 10m ./packaging/

ifeq ($(CI),true)
TEST_TARGETS += package-test
endif

.DEFAULT_GOAL := $(release_saved_default_goal)
