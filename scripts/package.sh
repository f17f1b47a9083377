#!/usr/bin/env bash
# Builds the Debian package and checks it: the files it holds, md5sums,
# lintian (errors and warnings fail, except those packaging/*.lintian-overrides
# explains), systemd-analyze verify, and systemd-analyze security (exposure
# at most 2.0) of every unit. With --boot, also installs it into a Debian
# root file system booted with a real systemd (systemd-nspawn) and runs the
# service there against a private PostgreSQL and S3 server (see
# scripts/systemd/boot-test.sh).
#
#   scripts/package.sh [--release] [--boot]
#
# By default the package holds the (stripped) binary of the test build, which
# CI has already built: the packaging is what is checked. --release builds and
# packages the release binary (what you ship; several minutes here). Installs
# cargo-deb, lintian, systemd-container and debootstrap when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

release=0 boot=0
for arg in "$@"; do
    case $arg in
        --release) release=1 ;;
        --boot) boot=1 ;;
        *) echo "usage: $0 [--release] [--boot]" >&2; exit 64 ;;
    esac
done
log() { echo "== $*"; }
die() { echo "FAIL: $*" >&2; exit 1; }

need_apt=()
command -v lintian >/dev/null || need_apt+=(lintian)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
if [ $boot = 1 ]; then
    command -v systemd-nspawn >/dev/null || need_apt+=(systemd-container)
    command -v debootstrap >/dev/null || need_apt+=(debootstrap)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
command -v cargo-deb >/dev/null || { log "installing cargo-deb"; cargo install cargo-deb --locked --quiet; }

# 1. The binary, and what is generated from it.
if [ $release = 1 ]; then
    cargo build --release --locked
    profile=release
else
    cargo build --locked --bin keepsake
    # cargo-deb takes the binary from target/<profile>/: this profile only
    # names that directory (see Cargo.toml).
    profile=package-check
    install -d target/$profile
    strip -o target/$profile/keepsake target/debug/keepsake
fi
bin=target/$profile/keepsake
rm -rf target/assets
install -d target/assets/man target/assets/completions
"$bin" manual target/assets/man
gzip -9n target/assets/man/*.1
"$bin" completions bash >target/assets/completions/keepsake
"$bin" completions zsh >target/assets/completions/_keepsake
"$bin" completions fish >target/assets/completions/keepsake.fish

# 2. The package, with md5sums (which cargo-deb does not write).
out=target/debian
rm -rf "$out" && install -d "$out"
built=$(cargo deb --no-build --profile $profile --locked -o "$out/" 2>/dev/null | tail -n 1)
[ -f "$built" ] || die "cargo deb built nothing"
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
dpkg-deb -R "$built" "$tree/pkg"
(cd "$tree/pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$tree/md5sums"
install -m 0644 "$tree/md5sums" "$tree/pkg/DEBIAN/md5sums"
dpkg-deb --root-owner-group -Zxz --build "$tree/pkg" "$built" >/dev/null
deb=$built
log "built $deb"

# 3. What it holds.
listing=$(dpkg-deb -c "$deb")
for file in usr/bin/keepsake etc/keepsake/keepsake.toml \
    usr/lib/systemd/system/keepsake.service \
    usr/lib/systemd/system/keepsake-backup@.service \
    usr/lib/systemd/system/keepsake-backup@.timer \
    usr/share/doc/keepsake/copyright usr/share/doc/keepsake/changelog.Debian.gz \
    usr/share/doc/keepsake/README.md \
    usr/share/doc/keepsake/examples/keepsake.toml usr/share/doc/keepsake/examples/minimal.toml \
    usr/share/doc/keepsake/examples/env-only.env usr/share/doc/keepsake/examples/prometheus-alerts.yml \
    usr/share/man/man1/keepsake.1.gz usr/share/man/man1/keepsake-backup.1.gz \
    usr/share/man/man1/keepsake-restore.1.gz \
    usr/share/bash-completion/completions/keepsake usr/share/zsh/vendor-completions/_keepsake \
    usr/share/fish/vendor_completions.d/keepsake.fish \
    usr/share/lintian/overrides/keepsake; do
    grep -q " \./$file\$" <<<"$listing" || die "$file is not in the package"
done
grep -q -- '-rw-r----- root/root .* \./etc/keepsake/keepsake.toml$' <<<"$listing" \
    || die "/etc/keepsake/keepsake.toml is not 0640"
dpkg-deb -I "$deb" md5sums >/dev/null || die "no md5sums"
synopsis=$(dpkg-deb -f "$deb" Description | head -n 1)
[ ${#synopsis} -le 80 ] || die "the synopsis is longer than 80 characters: $synopsis"
log "the package holds every file, with md5sums"

# 4. lintian.
lint_status=0
lint=$(lintian --fail-on error,warning "$deb" 2>&1) || lint_status=$?
grep -v "running with root privileges" <<<"$lint" || true
[ $lint_status = 0 ] || die "lintian: errors or warnings without an override"
log "lintian: clean"

# 5. The units: verify, and their exposure.
root="$tree/root"
dpkg-deb -x "$deb" "$root"
install -d "$root/usr/lib/systemd" "$root/bin"
cp -rn /lib/systemd/system "$root/usr/lib/systemd/"
cp /bin/sh "$root/bin/"
for unit in keepsake.service keepsake-backup@shop.service keepsake-backup@shop.timer; do
    out_verify=$(systemd-analyze verify --man=no --root="$root" "$unit" 2>&1) || die "systemd-analyze verify $unit: $out_verify"
    if grep -qi "unknown\|ignoring" <<<"$out_verify"; then die "systemd-analyze verify $unit: $out_verify"; fi
done
for unit in keepsake.service keepsake-backup@shop.service; do
    exposure=$(systemd-analyze security --offline=true --root="$root" "$unit" 2>&1 \
        | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    [ -n "$exposure" ] || die "systemd-analyze security $unit gave no exposure"
    awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || die "$unit: exposure $exposure > 2.0"
    log "$unit: exposure $exposure"
done

# 6. A real systemd.
if [ $boot = 1 ]; then
    scripts/systemd/boot.sh "$deb"
fi
log "package checks passed"
