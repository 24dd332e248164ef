import { describe, expect, test } from '@jest/globals';
import { makePassword, makeUsername } from '../../src/util/names.js';
import { readSettings } from '../../src/settings.js';

const SHAPE = /^([a-z][a-z0-9_]*)_([0-9a-f]{8})_([a-z0-9]{8})$/;

function parts(name: string): { prefix: string; hash: string; random: string } {
  const m = SHAPE.exec(name);
  if (!m) throw new Error(`"${name}" is not <prefix>_<8 hex>_<8 random>`);
  return { prefix: m[1]!, hash: m[2]!, random: m[3]! };
}

/** The longest username-prefix that readSettings lets through, found by asking it. */
function longestAcceptedPrefix(): string {
  let longest = '';
  for (let length = 1; length <= 80; length++) {
    const prefix = 'p'.repeat(length);
    const inputs: Record<string, string> = {
      provider: 'postgres',
      'admin-url': 'postgres://admin:pw-1234@db.internal/app',
      'username-prefix': prefix
    };
    try {
      readSettings((name) => inputs[name] ?? '');
      longest = prefix;
    } catch {
      break;
    }
  }
  return longest;
}

describe('makeUsername', () => {
  test('is <prefix>_<8 hex hash>_<8 random> and uses only [a-z0-9_]', () => {
    const name = makeUsername('ci', 'github:123456789:987654321:1');
    expect(name).toMatch(/^[a-z0-9_]+$/);
    expect(parts(name).prefix).toBe('ci');
  });

  test('gives the same hash part for the same run and a different random part every time', () => {
    const names = Array.from({ length: 200 }, () => makeUsername('ci', 'github:123:456:1'));
    expect(new Set(names.map((n) => parts(n).hash)).size).toBe(1);
    expect(new Set(names.map((n) => parts(n).random)).size).toBe(names.length);
    expect(new Set(names).size).toBe(names.length);
  });

  test('gives different hash parts to different runs, including a re-run attempt', () => {
    const hashes = [
      'github:123:456:1',
      'github:123:456:2',
      'github:123:457:1',
      'gitlab:123:456:1'
    ].map((key) => parts(makeUsername('ci', key)).hash);
    expect(new Set(hashes).size).toBe(hashes.length);
  });

  test.each([
    `"; DROP ROLE x; --`,
    `Robert'); DROP TABLE students;--`,
    'ACME/App:Main',
    'ünïcødé-ρεπο-🚀',
    'github:acme/app:42:1',
    ' ',
    ''
  ])('never carries claim text from the run key %j into the name', (key) => {
    const name = makeUsername('ci', key);
    const { hash, random } = parts(name);
    expect(name).toMatch(/^[a-z0-9_]+$/);
    // The only part derived from the key is hex, so no word of the key can be spelled in it.
    expect(hash).toMatch(/^[0-9a-f]{8}$/);
    expect(random).toMatch(/^[a-z0-9]{8}$/);
    for (const word of key.toLowerCase().match(/[a-z0-9]{3,}/g) ?? []) {
      expect(`${parts(name).prefix}_${hash}`).not.toContain(word);
    }
  });

  test('fits MySQL (32) and PostgreSQL (63) even with the longest prefix settings allow', () => {
    const prefix = longestAcceptedPrefix();
    expect(prefix.length).toBeGreaterThanOrEqual(2);
    const name = makeUsername(prefix, 'github:123:456:1');
    expect(parts(name).prefix).toBe(prefix);
    expect(name.length).toBeLessThanOrEqual(32);
    expect(name.length).toBeLessThanOrEqual(63);
  });
});

describe('makePassword', () => {
  test('is at least 32 characters and URL-safe, so it goes into a URL unchanged', () => {
    for (let i = 0; i < 100; i++) {
      const password = makePassword();
      expect(password.length).toBeGreaterThanOrEqual(32);
      expect(password).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(encodeURIComponent(password)).toBe(password);
    }
  });

  test('is different every time', () => {
    const passwords = Array.from({ length: 1000 }, () => makePassword());
    expect(new Set(passwords).size).toBe(passwords.length);
  });
});
