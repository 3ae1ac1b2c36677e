'use strict';
// "Bundle" the app into dist/: copy the sources and write a build manifest.
const fs = require('node:fs');
const path = require('node:path');

const out = path.join(__dirname, '..', 'dist');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, 'src'), { recursive: true });
for (const f of fs.readdirSync(path.join(__dirname, '..', 'src'))) {
  fs.copyFileSync(path.join(__dirname, '..', 'src', f), path.join(out, 'src', f));
}
// The runtime dependencies ship with the bundle (vendored, as an air-gapped site keeps them).
fs.cpSync(path.join(__dirname, '..', 'node_modules'), path.join(out, 'node_modules'), { recursive: true });
const manifest = {
  name: require('../package.json').name,
  version: require('../package.json').version,
  commit: process.env.CODEBUILD_RESOLVED_SOURCE_VERSION || 'unknown',
  build: process.env.CODEBUILD_BUILD_NUMBER,
};
fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
console.log(`bundled ${manifest.name}@${manifest.version} into dist/`);
