# Sourced by the scripts: where the tools that scripts/setup installs live.
COURIER_TOOLS="${COURIER_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/courier-tools}"
export COURIER_TOOLS
# npm's wasm-opt first (Debian's binaryen is too old for wasm-bindgen's output); cargo's bin
# dir for trunk and wasm-bindgen.
export PATH="$COURIER_TOOLS/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
