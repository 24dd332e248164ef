import { expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const files = (dir: string) => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();

test('dist/ is exactly what `npm run bundle` makes from the source', () => {
  const out = mkdtempSync(join(tmpdir(), 'ec-dist-'));
  try {
    execFileSync(process.execPath, ['scripts/bundle.js', out], { stdio: 'pipe' });
    for (const entry of ['main', 'post', 'cli']) {
      expect(files(join('dist', entry))).toEqual(files(join(out, entry)));
      for (const file of files(join(out, entry))) {
        const fresh = readFileSync(join(out, entry, file));
        const committed = readFileSync(join('dist', entry, file));
        // A message naming the file beats a diff of a megabyte of bundle.
        expect({ file: `dist/${entry}/${file}`, same: committed.equals(fresh) }).toEqual({
          file: `dist/${entry}/${file}`,
          same: true
        });
      }
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 180_000);
