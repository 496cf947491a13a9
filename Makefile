# Build and install qubes-config-sync.
#
#   make                       release binaries (cargo) and the generated data files
#   make install               install-manager + install-agent (everything but dom0)
#   make install-manager       config qube: app, backend, CLI, data, translations,
#                              qubes.ConfigPropose receiver, systemd/D-Bus/autostart files
#   make install-agent         templates of managed qubes: agent, qubes-config-propose,
#                              qubes.ConfigApply/Snapshot/Rollback
#   make install-dom0          dom0: the qrexec policy under /etc/qubes/policy.d
#   make pot                   regenerate po/qubes-config-sync.pot from po/POTFILES.in
#   make update-po             merge the .pot into every po/LL.po
#   make check-data            validate the desktop entries, metainfo and translations
#
# Honours DESTDIR, PREFIX, BINDIR, DATADIR, SYSCONFDIR, MANDIR, LOCALEDIR, …; cargo is run as
# $(CARGO) with $(CARGO_FLAGS) (packages pass --offline --frozen) and builds into
# $(CARGO_TARGET_DIR). The qrexec services go to $(QUBES_RPCDIR) (/etc/qubes-rpc, where
# qrexec looks in a template; /usr/local/etc/qubes-rpc also works in a single app qube).

PREFIX ?= /usr/local
EXEC_PREFIX ?= $(PREFIX)
BINDIR ?= $(EXEC_PREFIX)/bin
LIBDIR ?= $(EXEC_PREFIX)/lib
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/qubes-config-sync
LOCALEDIR ?= $(DATADIR)/locale
ifeq ($(PREFIX),/usr)
SYSCONFDIR ?= /etc
else
SYSCONFDIR ?= $(PREFIX)/etc
endif
QUBES_RPCDIR ?= $(SYSCONFDIR)/qubes-rpc
QUBES_POLICYDIR ?= /etc/qubes/policy.d
SYSTEMD_USERUNITDIR ?= $(LIBDIR)/systemd/user
DBUS_SERVICEDIR ?= $(DATADIR)/dbus-1/services
AUTOSTARTDIR ?= $(SYSCONFDIR)/xdg/autostart

CARGO ?= cargo
CARGO_FLAGS ?= --locked
CARGO_TARGET_DIR ?= target
export CARGO_TARGET_DIR
RELEASE_DIR := $(CARGO_TARGET_DIR)/release
# Generated data (translated desktop entries, metainfo, .mo files).
GEN_DIR := $(CARGO_TARGET_DIR)/qcs-data

INSTALL ?= install
INSTALL_PROGRAM ?= $(INSTALL) -m 0755
INSTALL_DATA ?= $(INSTALL) -m 0644
MSGFMT ?= msgfmt
XGETTEXT ?= xgettext
MSGMERGE ?= msgmerge
MSGCAT ?= msgcat

APP_ID := org.qubes.ConfigSync
DOMAIN := qubes-config-sync
LINGUAS := $(shell sed -e 's/\#.*//' po/LINGUAS)
POT ?= po/$(DOMAIN).pot

MANAGER_BINS := qubes-config-sync qubes-config-syncd qvm-config-sync
AGENT_BINS := qubes-config-agent qubes-config-propose
# Services a managed qube offers to the config qube, and the one the config qube offers.
AGENT_SERVICES := qubes.ConfigApply qubes.ConfigSnapshot qubes.ConfigRollback
MANAGER_SERVICES := qubes.ConfigPropose
RPC_SRC := crates/agent/qubes-rpc

XGETTEXT_KEYWORDS := --keyword=gettext --keyword=gettext_f \
	--keyword=ngettext:1,2 --keyword=ngettext_f:1,2 \
	--keyword=pgettext:1c,2 --keyword=npgettext:1c,2,3

# The service scripts name the agent as /usr/bin/qubes-config-agent; point them at ours.
fix_bindir = sed -e 's|/usr/bin/|$(BINDIR)/|g'

.PHONY: all build build-manager build-agent data mo install install-manager install-agent \
	install-dom0 install-data install-locale pot update-po check-data clean

all: build data

build: build-manager build-agent

# The clients apart from the backend, the app without its `demo` feature: the packaged app
# links neither the simulator, the agent nor the backend, and neither it nor the CLI links
# SQLite (built with the backend, cargo would unify qcs-core's `store` feature into them).
build-manager:
	$(CARGO) build --release $(CARGO_FLAGS) -p qubes-config-sync -p qcs-cli --no-default-features --bins
	$(CARGO) build --release $(CARGO_FLAGS) -p qcs-daemon -p qcs-agent --bins

build-agent:
	$(CARGO) build --release $(CARGO_FLAGS) -p qcs-agent --bins

# --- generated data ---------------------------------------------------------------------

data: $(GEN_DIR)/$(APP_ID).desktop $(GEN_DIR)/$(APP_ID).metainfo.xml \
	$(GEN_DIR)/qubes-config-sync-tray.desktop mo

$(GEN_DIR)/%.desktop: data/%.desktop.in $(wildcard po/*.po) po/LINGUAS
	@mkdir -p $(GEN_DIR)
	$(MSGFMT) --desktop --template=$< -d po -o $@

# The autostart entry may be kept without the .in suffix (it is still in POTFILES.in).
$(GEN_DIR)/%.desktop: data/%.desktop $(wildcard po/*.po) po/LINGUAS
	@mkdir -p $(GEN_DIR)
	$(MSGFMT) --desktop --template=$< -d po -o $@

$(GEN_DIR)/%.metainfo.xml: data/%.metainfo.xml.in $(wildcard po/*.po) po/LINGUAS
	@mkdir -p $(GEN_DIR)
	$(MSGFMT) --xml --template=$< -d po -o $@

mo: $(foreach l,$(LINGUAS),$(GEN_DIR)/locale/$(l)/LC_MESSAGES/$(DOMAIN).mo)

$(GEN_DIR)/locale/%/LC_MESSAGES/$(DOMAIN).mo: po/%.po
	@mkdir -p $(dir $@)
	$(MSGFMT) --check -o $@ $<

# --- install ----------------------------------------------------------------------------

install: install-manager install-agent

install-manager: data
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	for b in $(MANAGER_BINS); do $(INSTALL_PROGRAM) $(RELEASE_DIR)/$$b $(DESTDIR)$(BINDIR)/$$b || exit 1; done
	$(INSTALL) -d $(DESTDIR)$(QUBES_RPCDIR)
	for s in $(MANAGER_SERVICES); do \
		$(fix_bindir) $(RPC_SRC)/$$s > $(DESTDIR)$(QUBES_RPCDIR)/$$s && \
		chmod 0755 $(DESTDIR)$(QUBES_RPCDIR)/$$s || exit 1; done
	$(INSTALL) -D -m 0644 $(GEN_DIR)/$(APP_ID).desktop $(DESTDIR)$(DATADIR)/applications/$(APP_ID).desktop
	$(INSTALL) -D -m 0644 $(GEN_DIR)/$(APP_ID).metainfo.xml $(DESTDIR)$(DATADIR)/metainfo/$(APP_ID).metainfo.xml
	$(INSTALL) -D -m 0644 $(GEN_DIR)/qubes-config-sync-tray.desktop $(DESTDIR)$(AUTOSTARTDIR)/qubes-config-sync-tray.desktop
	$(INSTALL) -D -m 0644 data/icons/hicolor/scalable/apps/$(APP_ID).svg \
		$(DESTDIR)$(DATADIR)/icons/hicolor/scalable/apps/$(APP_ID).svg
	$(INSTALL) -D -m 0644 data/icons/hicolor/symbolic/apps/$(APP_ID)-symbolic.svg \
		$(DESTDIR)$(DATADIR)/icons/hicolor/symbolic/apps/$(APP_ID)-symbolic.svg
	if [ -f data/org.qubes.ConfigSync1.service ]; then \
		$(INSTALL) -d $(DESTDIR)$(DBUS_SERVICEDIR) && \
		$(fix_bindir) data/org.qubes.ConfigSync1.service > $(DESTDIR)$(DBUS_SERVICEDIR)/org.qubes.ConfigSync1.service; fi
	if [ -f data/qubes-config-syncd.service ]; then \
		$(INSTALL) -d $(DESTDIR)$(SYSTEMD_USERUNITDIR) && \
		$(fix_bindir) data/qubes-config-syncd.service > $(DESTDIR)$(SYSTEMD_USERUNITDIR)/qubes-config-syncd.service; fi
	for l in $(LINGUAS); do \
		$(INSTALL) -D -m 0644 $(GEN_DIR)/locale/$$l/LC_MESSAGES/$(DOMAIN).mo \
			$(DESTDIR)$(LOCALEDIR)/$$l/LC_MESSAGES/$(DOMAIN).mo || exit 1; done
	$(INSTALL) -D -m 0644 docs/man/qvm-config-sync.1 $(DESTDIR)$(MANDIR)/man1/qvm-config-sync.1
	$(INSTALL) -D -m 0644 docs/user-guide.md $(DESTDIR)$(DOCDIR)/user-guide.md

install-agent:
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	for b in $(AGENT_BINS); do $(INSTALL_PROGRAM) $(RELEASE_DIR)/$$b $(DESTDIR)$(BINDIR)/$$b || exit 1; done
	$(INSTALL) -d $(DESTDIR)$(QUBES_RPCDIR)
	for s in $(AGENT_SERVICES); do \
		$(fix_bindir) $(RPC_SRC)/$$s > $(DESTDIR)$(QUBES_RPCDIR)/$$s && \
		chmod 0755 $(DESTDIR)$(QUBES_RPCDIR)/$$s || exit 1; done
	$(INSTALL) -D -m 0644 docs/man/qubes-config-propose.1 $(DESTDIR)$(MANDIR)/man1/qubes-config-propose.1

install-dom0:
	$(INSTALL) -d $(DESTDIR)$(QUBES_POLICYDIR)/include
	$(INSTALL_DATA) policy/policy.d/70-config-sync.policy policy/policy.d/80-config-sync-default.policy \
		$(DESTDIR)$(QUBES_POLICYDIR)/
	$(INSTALL_DATA) policy/policy.d/include/config-sync-admin-write $(DESTDIR)$(QUBES_POLICYDIR)/include/

# --- translations -----------------------------------------------------------------------

pot:
	$(XGETTEXT) --from-code=UTF-8 --add-comments=Translators $(XGETTEXT_KEYWORDS) \
		--package-name=$(DOMAIN) --copyright-holder="the qubes-config-sync authors" \
		--package-version=$$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1) \
		--msgid-bugs-address=https://github.com/QubesOS/qubes-config-sync/issues \
		--sort-by-file -f po/POTFILES.in -o $(POT)
	# Finding messages: the rule files' texts and the risk engine's templates (TOML and
	# string constants xgettext cannot find), appended after the source strings.
	mkdir -p $(GEN_DIR)
	$(CARGO) run $(CARGO_FLAGS) -q -p qcs-core --example rule-messages > $(GEN_DIR)/rule-messages.pot
	$(MSGCAT) --use-first -o $(POT) $(POT) $(GEN_DIR)/rule-messages.pot

update-po: pot
	for l in $(LINGUAS); do $(MSGMERGE) --update --backup=none --previous po/$$l.po $(POT) || exit 1; done

check-data: data
	desktop-file-validate $(GEN_DIR)/$(APP_ID).desktop
	desktop-file-validate $(GEN_DIR)/qubes-config-sync-tray.desktop
	appstreamcli validate --no-net $(GEN_DIR)/$(APP_ID).metainfo.xml
	for l in $(LINGUAS); do $(MSGFMT) --check --statistics -o /dev/null po/$$l.po || exit 1; done

clean:
	rm -rf $(GEN_DIR)
