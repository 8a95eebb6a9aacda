#!/bin/sh
# Installs Asterisk 22 for Disca on a Debian 12 host, as root:
#
#   1. the root folder: Debian 12 has no Asterisk package, Debian sid has
#      Asterisk 22 LTS, which needs a newer libc than Debian 12's; so a
#      sid root folder is made with mmdebstrap (a Debian 12 package) with
#      the packages asterisk, asterisk-modules and asterisk-config, the same
#      recipe as the test bed (`cargo xtask asterisk provision`);
#   2. the configuration: the output of `disca-asterisk-render` (--config)
#      replaces the root's /etc/asterisk (the previous one is kept next to
#      it), owned by root, group asterisk, mode 0640: it holds secrets;
#   3. the service: disca-asterisk.service (next to this script) with the
#      root's path, enabled and started when systemd runs.
#
# Run it again to install a new configuration: the root is kept.
#
#   install-asterisk.sh --config DIR [--root DIR] [--from-root DIR]
#                       [--unit-dir DIR] [--mirror URL] [--no-start]
set -eu

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

# 2. The configuration.
etc="$ROOT/etc/asterisk"
if [ -d "$etc" ]; then
    kept="$etc.before-$(date +%Y%m%d-%H%M%S)-$$"
    mv "$etc" "$kept"
    echo "previous configuration kept in $kept"
fi
mkdir -p "$etc"
cp -R "$CONFIG/." "$etc/"
chroot "$ROOT" chown -R root:asterisk /etc/asterisk
find "$etc" -type d -exec chmod 0750 {} +
find "$etc" -type f -exec chmod 0640 {} +
for dir in /run/asterisk /var/lib/asterisk /var/spool/asterisk /var/log/asterisk; do
    mkdir -p "$ROOT$dir"
    chroot "$ROOT" chown asterisk:asterisk "$dir"
done

# 3. The service.
mkdir -p "$UNIT_DIR"
sed "s|@ROOT@|$ROOT|g" "$HERE/disca-asterisk.service" > "$UNIT_DIR/disca-asterisk.service"
chmod 0644 "$UNIT_DIR/disca-asterisk.service"
echo "unit written: $UNIT_DIR/disca-asterisk.service"
if [ "$START" = yes ] && [ -d /run/systemd/system ]; then
    # The unit binds the phone directory's folder into the root.
    mkdir -p /var/lib/disca/phones
    systemctl daemon-reload
    systemctl enable disca-asterisk.service
    systemctl restart disca-asterisk.service
    echo "disca-asterisk.service started: journalctl -u disca-asterisk -f"
else
    echo "not started: systemctl daemon-reload && systemctl enable --now disca-asterisk"
fi
