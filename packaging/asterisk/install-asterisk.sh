#!/bin/sh
# Installs Asterisk 22 for Disca on a Debian 12 host, as root:
#
#   1. the root folder: Debian 12 has no Asterisk package, Debian sid has
#      Asterisk 22 LTS, which needs a newer libc than Debian 12's; so a
#      sid root folder is made with mmdebstrap (a Debian 12 package) with
#      the packages asterisk, asterisk-modules and asterisk-config, the same
#      recipe as the test bed (`cargo xtask asterisk provision`);
#   2. the user: Asterisk runs as the root folder's `asterisk`, given the
#      ids of a system user and group `asterisk` of the host (made if
#      missing), so that no other host account shares them;
#   3. the configuration: the output of `disca-asterisk-render` (--config)
#      replaces the root's /etc/asterisk in one rename (the previous one is
#      kept next to it), owned by root, group asterisk, mode 0640: it holds
#      secrets;
#   4. the service: disca-asterisk.service (next to this script) with the
#      root's path; enabled and started when systemd runs, or reloaded
#      when it already runs (calls stay up).
#
# Run it again to install a new configuration: the root is kept.
#
#   install-asterisk.sh --config DIR [--root DIR] [--from-root DIR]
#                       [--unit-dir DIR] [--mirror URL] [--no-start]
set -eu
# Nothing this script writes is for other users to read unless it says so.
umask 077

ROOT=/var/lib/disca-asterisk/root
CONFIG=
FROM_ROOT=
UNIT_DIR=/etc/systemd/system
MIRROR=http://deb.debian.org/debian
START=yes
HERE=$(cd "$(dirname "$0")" && pwd)

usage() {
    cat <<USAGE
usage: $0 --config DIR [options]
  --config DIR     the rendered configuration (disca-asterisk-render --out DIR)
  --root DIR       where the sid root folder lives [$ROOT]
  --from-root DIR  copy this root folder (built with the same recipe) instead
                   of downloading one: for a host without the Debian mirror
  --unit-dir DIR   where the systemd unit is written [$UNIT_DIR]
  --mirror URL     the Debian mirror [$MIRROR]
  --no-start       install, but neither enable nor start the service
USAGE
}

die() {
    echo "install-asterisk: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
        --config) CONFIG=${2:?}; shift 2 ;;
        --root) ROOT=${2:?}; shift 2 ;;
        --from-root) FROM_ROOT=${2:?}; shift 2 ;;
        --unit-dir) UNIT_DIR=${2:?}; shift 2 ;;
        --mirror) MIRROR=${2:?}; shift 2 ;;
        --no-start) START=no; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
done

[ "$(id -u)" = 0 ] || die "run me as root"
case "$ROOT" in
    /*) ;;
    *) die "--root must be an absolute path" ;;
esac
case "$ROOT" in
    *[!A-Za-z0-9._/-]*) die "--root may hold only letters, digits and . _ / -" ;;
esac
[ -n "$CONFIG" ] || { usage >&2; die "--config is required"; }
for file in asterisk.conf manager.conf pjsip.conf extensions.conf; do
    [ -f "$CONFIG/$file" ] || die "$CONFIG has no $file: render it first (disca-asterisk-render --site SITE --out $CONFIG)"
done
if grep -h -v '^[[:space:]]*;' "$CONFIG"/*.conf | grep -q '{{'; then
    die "$CONFIG still has {{placeholders}}: give the output of disca-asterisk-render, not the templates"
fi
[ -f "$HERE/disca-asterisk.service" ] || die "disca-asterisk.service is not next to this script"

# 1. The root folder.
if [ -x "$ROOT/usr/sbin/asterisk" ]; then
    echo "keeping the root folder at $ROOT"
else
    partial="$ROOT.partial-$$"
    rm -rf "$partial"
    mkdir -p "$(dirname "$ROOT")"
    if [ -n "$FROM_ROOT" ]; then
        [ -x "$FROM_ROOT/usr/sbin/asterisk" ] || die "$FROM_ROOT has no /usr/sbin/asterisk"
        echo "copying the root folder from $FROM_ROOT"
        cp -a "$FROM_ROOT" "$partial"
    else
        command -v mmdebstrap >/dev/null || apt-get install -y mmdebstrap
        echo "building the root folder (Debian sid with Asterisk 22, about 340 MB)"
        if ! mmdebstrap --variant=apt \
            --aptopt='Acquire::Check-Valid-Until "false"' \
            --include=asterisk,asterisk-modules,asterisk-config \
            sid "$partial" "$MIRROR"; then
            rm -rf "$partial"
            die "mmdebstrap failed"
        fi
    fi
    mv "$partial" "$ROOT"
fi
version=$(chroot "$ROOT" /usr/sbin/asterisk -V)
case "$version" in
    "Asterisk 22."*) echo "root folder: $version" ;;
    *) die "$ROOT runs '$version', not Asterisk 22: remove it and run me again" ;;
esac
chroot "$ROOT" getent group asterisk >/dev/null || die "$ROOT has no group asterisk"

# 2. The user: the root's `asterisk` takes the ids of the host's.
getent group asterisk >/dev/null || groupadd --system asterisk
getent passwd asterisk >/dev/null ||
    useradd --system --gid asterisk --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin asterisk
uid=$(id -u asterisk)
gid=$(getent group asterisk | cut -d: -f3)
root_uid=$(chroot "$ROOT" id -u asterisk)
root_gid=$(chroot "$ROOT" getent group asterisk | cut -d: -f3)
if [ "$root_gid" != "$gid" ]; then
    chroot "$ROOT" getent group "$gid" >/dev/null &&
        die "gid $gid (the host's asterisk) belongs to another group inside $ROOT"
    chroot "$ROOT" groupmod -g "$gid" asterisk
    find "$ROOT" -xdev -gid "$root_gid" -exec chgrp -h "$gid" {} +
fi
if [ "$root_uid" != "$uid" ]; then
    chroot "$ROOT" getent passwd "$uid" >/dev/null &&
        die "uid $uid (the host's asterisk) belongs to another user inside $ROOT"
    chroot "$ROOT" usermod -u "$uid" -g "$gid" asterisk
    find "$ROOT" -xdev -uid "$root_uid" -exec chown -h "$uid" {} +
fi
echo "Asterisk runs as asterisk (uid $uid, gid $gid), inside the root as on the host"

# 3. The configuration, swapped in with one rename.
etc="$ROOT/etc/asterisk"
staged="$etc.new-$$"
rm -rf "$staged"
mkdir -p "$staged"
cp -R "$CONFIG/." "$staged/"
chown -R root:asterisk "$staged"
find "$staged" -type d -exec chmod 0750 {} +
find "$staged" -type f -exec chmod 0640 {} +
if [ -d "$etc" ]; then
    kept="$etc.before-$(date +%Y%m%d-%H%M%S)-$$"
    mv "$etc" "$kept"
    echo "previous configuration kept in $kept"
fi
mv "$staged" "$etc"
for dir in /run/asterisk /var/lib/asterisk /var/spool/asterisk /var/log/asterisk; do
    mkdir -p "$ROOT$dir"
    chown asterisk:asterisk "$ROOT$dir"
    chmod 0750 "$ROOT$dir"
done

# 4. The service.
mkdir -p "$UNIT_DIR"
sed "s|@ROOT@|$ROOT|g" "$HERE/disca-asterisk.service" > "$UNIT_DIR/disca-asterisk.service"
chmod 0644 "$UNIT_DIR/disca-asterisk.service"
echo "unit written: $UNIT_DIR/disca-asterisk.service"
if [ "$START" = yes ] && [ -d /run/systemd/system ]; then
    # The unit binds the phone directory's folder into the root: the
    # backend (user disca, when it runs here) writes it, Asterisk reads it.
    install -d -m 2770 -o root -g asterisk /var/lib/disca/phones
    if id disca >/dev/null 2>&1; then
        usermod -a -G asterisk disca
    fi
    systemctl daemon-reload
    systemctl enable disca-asterisk.service
    if systemctl is-active --quiet disca-asterisk.service; then
        systemctl reload disca-asterisk.service
        echo "disca-asterisk.service reloaded, calls kept up (a change of ports or"
        echo "transports needs: systemctl restart disca-asterisk, which drops the calls)"
    else
        systemctl start disca-asterisk.service
        echo "disca-asterisk.service started: journalctl -u disca-asterisk -f"
    fi
else
    echo "not started: systemctl daemon-reload && systemctl enable --now disca-asterisk"
fi
