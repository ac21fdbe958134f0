# shellcheck shell=bash
# Source this file (`. scripts/podman-env.sh`) before running podman or molecule by hand; the repo's
# scripts do it themselves. It selects the project's podman settings (scripts/containers.conf)
# without touching /etc, and names the base image the molecule scenarios run.
_podman_env_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CONTAINERS_CONF=$_podman_env_dir/containers.conf
# The image scripts/build-base-image.sh builds and molecule/*/inventory uses.
export MOLECULE_BASE_IMAGE=${MOLECULE_BASE_IMAGE:-localhost/consolidation-xen-base:bookworm}
unset _podman_env_dir
