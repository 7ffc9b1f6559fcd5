#!/usr/bin/env bash
# Prepare this machine (which has no Docker engine) for the container tests:
#   1. install podman, podman-docker, runc and debootstrap (skipped when present);
#   2. quiet podman-docker's notice (/etc/containers/nodocker);
#   3. build a local STAND-IN for the Raster Vision image, tagged with the real name
#      (default quay.io/azavea/raster-vision:pytorch-0.31.1), so that a generated
#      project's `FROM quay.io/azavea/raster-vision:...` builds without a pull.
#
# Usage (as root, no stdin needed; idempotent):
#     tests/containers/setup.sh [IMAGE_TAG]
# The tag may also come from RV_STANDIN_IMAGE. RV_STANDIN_REBUILD=1 forces a build.
# Then `source tests/containers/env.sh` to use `docker` (= podman) with these settings.
#
# The image is reused when its inputs are unchanged: a hash of them (debootstrap
# parameters, standin/Containerfile, standin/rv-venv.sh, the CA bundle, build flags)
# is stored as the image label below and compared first. The debootstrap tree is
# cached under RV_STANDIN_CACHE (default /var/cache/rv-standin), keyed by a hash of
# the debootstrap parameters, so a Containerfile change does not redo debootstrap.
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source-path=SCRIPTDIR source=env.sh
source "${here}/env.sh"

image="${1:-${RV_STANDIN_IMAGE}}"
cache="${RV_STANDIN_CACHE:-/var/cache/rv-standin}"
ca_bundle="${RV_STANDIN_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
label="org.rastervision.standin.inputs"

suite=bookworm
variant=minbase
include=python3,python3-venv,python3-pip,make,ca-certificates
mirror=http://deb.debian.org/debian
# The stand-in installs Raster Vision with uv, at the test venv's uv version.
uv_requirement="$(grep '^uv==' "${here}/../requirements.txt")"
build_flags=(--format docker --isolation chroot --pull=never --layers=false
    --build-arg "UV_REQUIREMENT=${uv_requirement}")

log() { printf '[setup.sh %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ "$(id -u)" -eq 0 ]] || die "run as root"
exec </dev/null

# 1. Packages -----------------------------------------------------------------
packages=(podman podman-docker runc debootstrap)
missing=()
for pkg in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "${pkg}" 2>/dev/null || true)"
    [[ "${status}" == installed ]] || missing+=("${pkg}")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${missing[@]}"
else
    log "packages already installed: ${packages[*]}"
fi

# 2. podman-docker's wrapper prints a notice on every call unless this exists.
mkdir -p /etc/containers
touch /etc/containers/nodocker

# 3. The Raster Vision stand-in image ------------------------------------------
[[ -r "${ca_bundle}" ]] || die "CA bundle ${ca_bundle} not readable"
containerfile="${here}/standin/Containerfile"
profile_snippet="${here}/standin/rv-venv.sh"
# Raster Vision's pins, as the template carries them: the stand-in installs RV
# with them, as the real image installs each package's requirements.txt.
rv_pins="${here}/../../templates/rv-pins/0.31.1.txt"

sha() { sha256sum | cut -d' ' -f1; }
rootfs_key="$(printf '%s\n' "debootstrap" "${suite}" "${variant}" "${include}" "${mirror}" | sha)"
image_key="$(
    {
        printf '%s\n' "rootfs=${rootfs_key}" "flags=${build_flags[*]}"
        sha256sum <"${containerfile}"
        sha256sum <"${profile_snippet}"
        sha256sum <"${rv_pins}"
        sha256sum <"${ca_bundle}"
    } | sha
)"

mkdir -p "${cache}"
# One setup at a time (parallel test sessions share the cache and the image).
exec 9>"${cache}/.lock"
flock 9

current_key="$(podman image inspect --format "{{ index .Labels \"${label}\" }}" "${image}" 2>/dev/null || true)"
if [[ "${current_key}" == "${image_key}" && "${RV_STANDIN_REBUILD:-0}" != 1 ]]; then
    log "reusing ${image} (inputs ${image_key:0:12} unchanged)"
    exit 0
fi
log "building ${image} (inputs ${image_key:0:12}; image has '${current_key:0:12}')"

ctx="${cache}/${rootfs_key}"
if [[ ! -e "${ctx}/rootfs/.rv-standin-complete" ]]; then
    # Drop trees of other (outdated) keys, and any half-made one.
    find "${cache}" -mindepth 1 -maxdepth 1 -type d -exec rm -rf --one-file-system {} +
    tmp="${cache}/${rootfs_key}.tmp"
    mkdir -p "${tmp}"
    log "debootstrap ${suite} (${variant}, ${include}) into ${tmp}"
    debootstrap --variant="${variant}" --include="${include}" "${suite}" "${tmp}" "${mirror}"
    rm -rf "${tmp}/var/cache/apt/archives/"*.deb "${tmp}/var/lib/apt/lists/"*
    touch "${tmp}/.rv-standin-complete"
    mkdir -p "${ctx}"
    mv "${tmp}" "${ctx}/rootfs"
else
    log "reusing debootstrap tree ${ctx}/rootfs"
fi
install -m 0644 "${ca_bundle}" "${ctx}/ca-certificates.crt"
install -m 0644 "${profile_snippet}" "${ctx}/rv-venv.sh"
install -m 0644 "${rv_pins}" "${ctx}/rv-pins.txt"

old_id="$(podman image inspect --format '{{.Id}}' "${image}" 2>/dev/null || true)"
podman build "${build_flags[@]}" --label "${label}=${image_key}" \
    -t "${image}" -f "${containerfile}" "${ctx}"
new_id="$(podman image inspect --format '{{.Id}}' "${image}")"
if [[ -n "${old_id}" && "${old_id}" != "${new_id}" ]]; then
    # The previous stand-in, now untagged; kept if other tags or images use it.
    podman rmi "${old_id}" >/dev/null 2>&1 || true
fi
log "built ${image} (${new_id:0:12})"
