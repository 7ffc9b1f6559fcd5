# shellcheck shell=bash
# Source this file (bash) to make a plain `docker build ...` / `docker run ...` run
# podman with the settings that work on the test machines (no Docker engine):
#
#     source tests/containers/env.sh
#     docker run --rm "$RV_STANDIN_IMAGE" rastervision --help
#
# It is the single source of these settings: tests/containers/setup.sh sources it and
# tests/containers/podman_env.py reads it (`bash -c 'source env.sh; env -0'`).
# It only exports variables: it neither installs nor builds anything (setup.sh does).

RV_CONTAINERS_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
export RV_CONTAINERS_DIR

# podman engine settings (crun/ulimits/cgroups/networking) and overlay storage in a
# root that persists between runs.
export CONTAINERS_CONF="${RV_CONTAINERS_DIR}/containers.conf"
export CONTAINERS_STORAGE_CONF="${RV_CONTAINERS_DIR}/storage.conf"
# RUN steps of builds only work with chroot isolation here.
export BUILDAH_ISOLATION=chroot
# Docker's image format, as a real `docker build` makes (keeps SHELL, HEALTHCHECK).
export BUILDAH_FORMAT=docker

# The image tag the stand-in is built under (overridable).
export RV_STANDIN_IMAGE="${RV_STANDIN_IMAGE:-quay.io/azavea/raster-vision:pytorch-0.31.1}"

# `docker` = podman-docker's wrapper, ahead of the engine-less /usr/local/bin/docker.
case ":${PATH:-}:" in
    ":${RV_CONTAINERS_DIR}/bin:"*) ;;
    *) PATH="${RV_CONTAINERS_DIR}/bin${PATH:+:${PATH}}" ;;
esac
export PATH
