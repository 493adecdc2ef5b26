// After `vite build`: a gzip copy (`name.gz`) of every text file of dist/ worth
// compressing, embedded beside it; the service sends it to browsers that accept
// gzip (src/roles/ingress/console.rs), so the console costs no CPU per download.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, constants } from 'node:zlib';

const TEXT = /\.(js|mjs|css|html|svg|json|map|txt)$/;
const MIN_BYTES = 1024;

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

let before = 0;
let after = 0;
for (const path of walk(new URL('../dist', import.meta.url).pathname)) {
  if (!TEXT.test(path)) continue;
  const bytes = readFileSync(path);
  if (bytes.length < MIN_BYTES) continue;
  const gz = gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION });
  if (gz.length >= bytes.length) continue;
  writeFileSync(`${path}.gz`, gz);
  before += bytes.length;
  after += gz.length;
}
console.log(`gzip copies: ${(before / 1024).toFixed(0)} KB of text as ${(after / 1024).toFixed(0)} KB`);
