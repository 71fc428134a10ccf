#!/bin/sh
# "make install DESTDIR=..." puts the daemon, the admin tool, the client
# library with its header and pkg-config file, the man pages, the docs and
# the syslog-ng fragment in the usual places, and nothing else (no test or
# benchmark programs); a client program builds against the installed
# header and library through pkg-config alone and runs.
. "$ROSTER_SRCDIR/tests/e2e/lib.sh"

B=${ROSTER_BUILDDIR:-$(dirname "$ROSTERD")}
if [ ! -f "$B/Makefile" ]; then
	echo "# SKIP: no Makefile in $B (run from a configured build directory)"
	exit 77
fi
D="$T/dest"
# A make of our own, not a sub-make of "make check": no inherited jobserver.
check "make install DESTDIR=... succeeds" env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	make -s -C "$B" install DESTDIR="$D"
prefix=$(sed -n 's/^prefix=//p' "$B/lib/libroster.pc")
sysconfdir=$(sed -n 's/^sysconfdir = //p' "$B/Makefile")
case $sysconfdir in '${prefix}'*) sysconfdir="$prefix${sysconfdir#'${prefix}'}" ;; esac
P="$D$prefix"
for f in sbin/rosterd bin/rosterctl include/roster.h lib/pkgconfig/libroster.pc \
	share/man/man8/rosterd.8 share/man/man8/rosterctl.8 share/man/man5/roster.conf.5 \
	share/doc/roster/README.md share/doc/roster/backup-format.md \
	share/doc/roster/audit-format.md; do
	check "installs $f" test -s "$P/$f"
done
check "installs the syslog-ng fragment in $sysconfdir/syslog-ng/conf.d" \
	test -s "$D$sysconfdir/syslog-ng/conf.d/roster.conf"
check "rosterd is executable" test -x "$P/sbin/rosterd"
check "rosterctl is executable" test -x "$P/bin/rosterctl"
if ls "$P"/lib/libroster.so.* > /dev/null 2>&1; then ok "installs the shared libroster"
else not_ok "installs the shared libroster"; fi
find "$D" -name 'loadgen*' -o -name 'fsyncrate*' -o -name 'test-*' > "$T/extra"
check "installs no test or benchmark program" test ! -s "$T/extra"
# Under DESTDIR the loader cannot know where libroster went: say so.
check "the installed rosterctl runs" env LD_LIBRARY_PATH="$P/lib" "$P/bin/rosterctl" --version
check "the installed rosterd runs" "$P/sbin/rosterd" --version
if command -v mandoc > /dev/null; then
	for m in "$P"/share/man/man8/*.8 "$P"/share/man/man5/*.5; do
		check "mandoc -T lint is clean on installed $(basename "$m")" mandoc -T lint "$m"
	done
else
	echo "# mandoc not installed; skipping the lint of the installed pages"
fi

# A client built from the installed files alone.
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
if command -v pkg-config > /dev/null && command -v "${CC:-cc}" > /dev/null; then
	flags=$(pkg-config --define-variable=prefix="$P" --cflags --libs libroster)
	# A library built with --enable-sanitizers needs the sanitizer runtime in the program too.
	san=$(sed -n 's/^SAN_CFLAGS = //p' "$B/Makefile")
	check "a client compiles against the installed header and library" \
		"${CC:-cc}" $san -o "$T/client" "$ROSTER_SRCDIR/tests/e2e/install-test.c" $flags
	expect_exit 0 "... and runs with the installed library" \
		env LD_LIBRARY_PATH="$P/lib" "$T/client"
	expect_in "$T/out" "cannot connect" "... getting libroster's own error text"
else
	echo "# pkg-config or a C compiler missing; skipping the client build"
fi
finish
