# scripts/common.sh — sourced by scripts/demo, scripts/test and the benchmarks:
# install the Debian packages redfishfs needs (only the missing ones) and
# build it with meson.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Build and run-time dependencies, plus the Redfish clients the tests use.
DEPS_BUILD="meson ninja-build pkg-config gcc libfuse3-dev fuse3 libjson-c-dev
 libcurl4-openssl-dev libmicrohttpd-dev libgnutls28-dev libcunit1-dev libinih-dev libcrypt-dev libunistring-dev
 libssl-dev libsystemd-dev"
DEPS_TEST="redfishtool python3-sushy python3-jsonschema openssl curl procps tar findutils python3 iproute2 prometheus
 mandoc systemd chromium chromium-driver python3-selenium"

ensure_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "installing: ${missing[*]}" >&2
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# build DIR [meson setup options...]
build() {
	local dir=$1
	shift
	if [ ! -f "$ROOT/$dir/build.ninja" ]; then
		meson setup "$ROOT/$dir" "$ROOT" "$@" >/dev/null
	fi
	# ninja prints compiler errors on stdout: show them when the build fails.
	local out
	if ! out=$(ninja -C "$ROOT/$dir" 2>&1); then
		printf '%s\n' "$out" >&2
		echo "build of $dir failed" >&2
		return 1
	fi
}
