# shellcheck shell=sh
# Sourced by login shells (`bash -l`). Debian's /etc/profile (this stand-in)
# resets PATH, Ubuntu's (the real image's base) does not: keep the Raster Vision
# venv first, as the real image keeps /opt/conda/bin first, also for `bash -l`.
case ":${PATH}:" in
    *:/opt/venv/bin:*) ;;
    *) PATH="/opt/venv/bin:${PATH}" ;;
esac
export PATH
export VIRTUAL_ENV=/opt/venv
