# shellcheck shell=sh
# Sourced by login shells (`bash -l`), whose /etc/profile resets PATH: keep the
# Raster Vision venv first, as the real image keeps its mamba env first.
case ":${PATH}:" in
    *:/opt/venv/bin:*) ;;
    *) PATH="/opt/venv/bin:${PATH}" ;;
esac
export PATH
export VIRTUAL_ENV=/opt/venv
