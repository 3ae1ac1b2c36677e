'use strict';
// A small security lint of the app's own sources, written as a SARIF 2.1.0 log (the format every
// scanner in the pipeline speaks): it flags dynamic code execution and shell commands built from
// strings. kiln reads the log as a `SARIF` report group and records its findings with the
// plugin scanners'.
const fs = require('node:fs');
const path = require('node:path');

const rules = [
  { id: 'js/dynamic-code', level: 'error', re: /\b(eval|Function)\s*\(/, text: 'dynamic code execution' },
  { id: 'js/shell-string', level: 'warning', re: /\b(exec|execSync)\s*\(\s*`/, text: 'a shell command built from a template string' },
];
const results = [];
const src = path.join(__dirname, '..', 'src');
for (const file of fs.readdirSync(src).sort()) {
  fs.readFileSync(path.join(src, file), 'utf8').split('\n').forEach((line, i) => {
    for (const r of rules) {
      if (r.re.test(line)) {
        results.push({
          ruleId: r.id,
          level: r.level,
          message: { text: `${r.text} in ${file}` },
          locations: [{ physicalLocation: { artifactLocation: { uri: `src/${file}` }, region: { startLine: i + 1 } } }],
        });
      }
    }
  });
}
const log = {
  version: '2.1.0',
  $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
  runs: [{ tool: { driver: { name: 'node-web-lint', rules: rules.map((r) => ({ id: r.id, shortDescription: { text: r.text } })) } }, results }],
};
fs.mkdirSync(path.join(__dirname, '..', 'reports'), { recursive: true });
fs.writeFileSync(path.join(__dirname, '..', 'reports', 'lint.sarif'), JSON.stringify(log, null, 2) + '\n');
console.log(`lint: ${results.length} finding(s) in reports/lint.sarif`);
