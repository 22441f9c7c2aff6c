#!/usr/bin/env bash
# Compiles contracts/*.sol with solc-js, the npm `solc` package pinned in
# contracts/package.json and installed exactly from contracts/package-lock.json
# by npm ci, and writes each contract's bytecode (.bin, hex) and ABI (.abi,
# JSON) beside its source. The artifacts are committed: Go builds, tests and
# CI need no compiler. After changing a .sol file, run this and commit the
# three files together.
#
# Needs node and npm (any recent version) and the npm registry.
#
#   scripts/compile-contracts.sh
set -euo pipefail
cd "$(dirname "$0")/../contracts"

npm ci --no-audit --no-fund --loglevel=error >&2

# Compiler settings. The EVM version is pinned so that the bytecode does not
# change when solc's default moves, and runs on any Cancun-or-later chain.
node - cancun 200 *.sol <<'JS'
const fs = require("fs");
const solc = require("solc");
const [evmVersion, runs, ...files] = process.argv.slice(2);
console.error(`solc ${solc.version()}, optimizer runs ${runs}, evmVersion ${evmVersion}`);
for (const src of files) {
  const contract = src.replace(/\.sol$/, "");
  const input = {
    language: "Solidity",
    sources: { [src]: { content: fs.readFileSync(src, "utf8") } },
    settings: {
      optimizer: { enabled: true, runs: Number(runs) },
      evmVersion,
      outputSelection: { [src]: { [contract]: ["abi", "evm.bytecode.object"] } },
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  for (const e of out.errors || []) console.error(e.formattedMessage || e.message);
  if ((out.errors || []).some((e) => e.severity === "error")) process.exit(1);
  const c = (out.contracts[src] || {})[contract];
  if (!c) {
    console.error(`${src} defines no contract named ${contract}`);
    process.exit(1);
  }
  fs.writeFileSync(contract + ".bin", c.evm.bytecode.object + "\n");
  fs.writeFileSync(contract + ".abi", JSON.stringify(c.abi, null, 2) + "\n");
  console.error(`wrote contracts/${contract}.bin (${c.evm.bytecode.object.length / 2} bytes) and contracts/${contract}.abi`);
}
JS
