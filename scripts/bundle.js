// Bundles each entry with ncc into dist/<entry>/: one self-contained file per entry, plus the
// chunks that dynamic imports load only when a provider is chosen.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2] ?? 'dist';
const ncc = join('node_modules', '@vercel', 'ncc', 'dist', 'ncc', 'cli.js');
for (const entry of ['main', 'post', 'cli']) {
  rmSync(join(out, entry), { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [
      ncc,
      'build',
      `src/${entry}.ts`,
      '-o',
      join(out, entry),
      '--source-map',
      // Maps are shipped for reading, not registered at run time: registering costs every
      // job a few milliseconds, and our errors are reported by message, not by stack.
      '--no-source-map-register',
      '--license',
      'licenses.txt',
      '-q'
    ],
    { stdio: 'inherit' }
  );
}
