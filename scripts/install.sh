#!/usr/bin/env bash
# `make install` / `make uninstall`: the binaries, the systemd unit, sysusers and tmpfiles entries,
# the example configuration, the docs and a man page, under DESTDIR/PREFIX (default /usr/local).
# The configuration itself (SYSCONFDIR/switchboard/switchboard.yaml) is installed only when there
# is none, and never removed: it is the operator's.
set -euo pipefail
action="$1"
from="$2"   # the folder with the built switchboard and switchboard-bench
root=$(cd "$(dirname "$0")/.." && pwd)
prefix="${PREFIX:-/usr/local}"
destdir="${DESTDIR:-}"
sysconfdir="${SYSCONFDIR:-/etc}"
bindir="$prefix/bin"
libdir="$prefix/lib"
docdir="$prefix/share/doc/switchboard"
mandir="$prefix/share/man/man1"
unit="$destdir$libdir/systemd/system/switchboard.service"

installed_files=(
    "$destdir$bindir/switchboard" "$destdir$bindir/switchboard-bench" "$unit"
    "$destdir$libdir/sysusers.d/switchboard.conf" "$destdir$libdir/tmpfiles.d/switchboard.conf"
    "$destdir$sysconfdir/switchboard/switchboard.yaml.example" "$destdir$mandir/switchboard.1"
)

case "$action" in
install)
    install -d "$destdir$bindir" "$destdir$libdir/systemd/system" "$destdir$libdir/sysusers.d" "$destdir$libdir/tmpfiles.d" \
        "$destdir$sysconfdir/switchboard" "$destdir$docdir" "$destdir$mandir"
    install -m 0755 "$from/switchboard" "$from/switchboard-bench" "$destdir$bindir/"
    # The unit names the binary and the docs where they are installed.
    sed -e "s#/usr/local/bin/switchboard#$bindir/switchboard#g" -e "s#/usr/share/doc/switchboard#$docdir#g" \
        -e "s#/etc/switchboard#$sysconfdir/switchboard#g" "$root/deploy/switchboard.service" >"$unit"
    chmod 0644 "$unit"
    install -m 0644 "$root/deploy/switchboard.sysusers.conf" "$destdir$libdir/sysusers.d/switchboard.conf"
    sed -e "s#/etc/switchboard#$sysconfdir/switchboard#g" "$root/deploy/switchboard.tmpfiles.conf" >"$destdir$libdir/tmpfiles.d/switchboard.conf"
    install -m 0640 "$root/deploy/switchboard.yaml" "$destdir$sysconfdir/switchboard/switchboard.yaml.example"
    if [ ! -e "$destdir$sysconfdir/switchboard/switchboard.yaml" ]; then
        install -m 0640 "$root/deploy/switchboard.yaml" "$destdir$sysconfdir/switchboard/switchboard.yaml"
    fi
    cp -R "$root/README.md" "$root/docs" "$root/protocols" "$destdir$docdir/"
    [ -f "$root/deploy/README.md" ] && install -m 0644 "$root/deploy/README.md" "$destdir$docdir/DEPLOY.md"
    # The man page: every command's --help, as the binary prints it.
    {
        echo ".TH SWITCHBOARD 1 \"$(date -u +%Y-%m-%d)\" \"switchboard\" \"System Administration\""
        echo ".SH NAME"
        echo "switchboard \\- the contact-center hub and its operator commands"
        echo ".SH DESCRIPTION"
        echo "The hub runs as a systemd service (switchboard.service); the same binary carries the commands below."
        echo "Documentation: $docdir."
        commands=$("$from/switchboard" --help | awk '/^SUBCOMMANDS:/{on=1; next} on && /^  [a-z]/{print $1}')
        for command in "" $commands; do
            echo ".SH \"$(echo "switchboard $command" | tr '[:lower:]' '[:upper:]' | sed 's/ *$//')\""
            echo ".nf"
            # shellcheck disable=SC2086
            "$from/switchboard" $command --help 2>&1 | sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\&'/"
            echo ".fi"
        done
    } >"$destdir$mandir/switchboard.1"
    echo "installed under ${destdir:-/}$prefix; next: systemd-sysusers, systemd-tmpfiles --create, edit $sysconfdir/switchboard/switchboard.yaml (deploy/README.md)"
    ;;
uninstall)
    rm -f "${installed_files[@]}"
    rm -rf "$destdir$docdir"
    echo "removed; $sysconfdir/switchboard (configuration and keys) is left in place"
    ;;
*)
    echo "usage: install.sh install|uninstall FROM" >&2
    exit 2
    ;;
esac
