import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { cliPlatform, renderVars, writePrivateFile } from '../../src/platform/cli.js';
import type { LeaseState } from '../../src/state.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ephemeral-credentials-cli-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const mode = (path: string) => statSync(path).mode & 0o777;

// Every character a shell or a dotenv reader might treat specially, except the refused ones.
const vars = {
  DATABASE_URL:
    'postgres://ci_0a1b2c3d_k3j4h5g6:Ab-_9xYz@db.internal:5432/app?sslmode=require&application_name=ci',
  PGHOST: 'db.internal',
  PGPORT: '5432',
  PGPASSWORD: 'p$HOME&x?y:z`id`$(id)!*;|<>"#\\n\\ end',
  PGDATABASE: 'app',
  EMPTY: ''
};

/** Loads a vars file the way the spec promises, `set -a; . FILE`, in a clean bash, and returns what a child process sees. */
function loadWithBash(file: string): Record<string, string> {
  const script = `set -a; . "$1"; set +a; exec env -0`;
  const result = spawnSync('bash', ['-c', script, 'bash', file], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent-home' },
    encoding: 'utf8'
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return Object.fromEntries(
    result.stdout
      .split('\0')
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])
  );
}

describe('renderVars', () => {
  test('writes one NAME=value line per variable', () => {
    const text = renderVars({ PGHOST: 'db', PGPORT: '5432' });
    expect(text.split('\n')).toEqual([
      expect.stringMatching(/^PGHOST=/),
      expect.stringMatching(/^PGPORT=/),
      ''
    ]);
  });

  test('is loaded by `set -a; . FILE` into exported variables with every value intact', () => {
    const file = join(dir, 'bash.env');
    writePrivateFile(file, renderVars(vars));
    const seen = loadWithBash(file);
    for (const [name, value] of Object.entries(vars))
      expect({ name, value: seen[name] }).toEqual({ name, value });
  });

  test('is loaded by a dotenv reader with every value intact', () => {
    expect(parseEnv(renderVars(vars))).toEqual(vars);
  });

  test.each([
    ['a quote', "it's"],
    ['a newline', 'line1\nline2'],
    ['a carriage return', 'line1\rline2']
  ])('refuses a value with %s, naming the variable but not the value', (_label, value) => {
    const secret = `s3cret-${value}`;
    expect(() => renderVars({ PGHOST: 'db', PGPASSWORD: secret })).toThrow(
      'the value of PGPASSWORD cannot be written to a vars file'
    );
    try {
      renderVars({ PGPASSWORD: secret });
    } catch (err) {
      expect((err as Error).message).not.toContain('s3cret');
    }
  });
});

describe('writePrivateFile', () => {
  test('creates a file only its owner can read', () => {
    const file = join(dir, 'new.env');
    writePrivateFile(file, 'PGPASSWORD=x\n');
    expect(readFileSync(file, 'utf8')).toBe('PGPASSWORD=x\n');
    expect(mode(file)).toBe(0o600);
  });

  test('leaves a file that already existed as 0644 at 0600, with the new content', () => {
    const file = join(dir, 'existing.env');
    writeFileSync(file, 'OLD=1\n');
    chmodSync(file, 0o644);
    expect(mode(file)).toBe(0o644);
    writePrivateFile(file, 'PGPASSWORD=new\n');
    expect(readFileSync(file, 'utf8')).toBe('PGPASSWORD=new\n');
    expect(mode(file)).toBe(0o600);
  });

  test('leaves no temporary file behind', () => {
    const sub = mkdtempSync(join(dir, 'clean-'));
    writePrivateFile(join(sub, 'vars.env'), 'A=1\n');
    writePrivateFile(join(sub, 'vars.env'), 'A=2\n');
    expect(readdirSync(sub)).toEqual(['vars.env']);
  });
});

describe('cliPlatform', () => {
  test('reads a flag, else EPHEMERAL_CREDENTIALS_<FLAG>, else ""', () => {
    const env = {
      EPHEMERAL_CREDENTIALS_ADMIN_URL: 'postgres://from-env',
      EPHEMERAL_CREDENTIALS_TTL: '2h',
      EPHEMERAL_CREDENTIALS_ENV_PREFIX: 'X_'
    };
    const platform = cliPlatform({ ttl: '15m', 'dry-run': true }, env, () => undefined);
    expect(platform.input('ttl')).toBe('15m');
    expect(platform.input('admin-url')).toBe('postgres://from-env');
    expect(platform.input('env-prefix')).toBe('X_');
    expect(platform.input('dry-run')).toBe('true');
    expect(platform.input('roles')).toBe('');
  });

  test('has a token only when --id-token-env names a variable that is set', async () => {
    const none = cliPlatform({}, { CI_JOB_JWT: 'x' }, () => undefined);
    expect(none.tokens.available()).toBe(false);
    expect(none.tokens.missingHint).toContain('--id-token-env');

    const empty = cliPlatform({ 'id-token-env': 'ID_TOKEN' }, {}, () => undefined);
    expect(empty.tokens.available()).toBe(false);
    expect(empty.tokens.missingHint).toContain('ID_TOKEN');

    const set = cliPlatform(
      { 'id-token-env': 'ID_TOKEN' },
      { ID_TOKEN: 'eyJ.token' },
      () => undefined
    );
    expect(set.tokens.available()).toBe(true);
    await expect(set.tokens.request('aud')).resolves.toBe('eyJ.token');
  });

  test('saves the state to --state-file with mode 0600 and reads it back', async () => {
    const file = join(dir, 'lease.json');
    const state: LeaseState = {
      v: 1,
      provider: 'postgres',
      leaseId: 'ci_0a1b2c3d_k3j4h5g6',
      username: 'ci_0a1b2c3d_k3j4h5g6',
      expiresAt: '2030-01-01T00:00:00.000Z',
      target: 'db:5432/app',
      exported: []
    };
    const platform = cliPlatform({ 'state-file': file }, {}, () => undefined);
    await platform.saveState(state);
    expect(mode(file)).toBe(0o600);
    await expect(
      cliPlatform({}, { EPHEMERAL_CREDENTIALS_STATE_FILE: file }, () => undefined).loadState()
    ).resolves.toEqual(state);
  });

  test('collects exported variables for the vars file', () => {
    const platform = cliPlatform({}, {}, () => undefined);
    platform.exportVariable('PGUSER', 'ci_x');
    platform.exportVariable('PGPORT', '5432');
    expect(platform.vars).toEqual({ PGUSER: 'ci_x', PGPORT: '5432' });
  });

  test('sends warnings to the log, marked as such', () => {
    const lines: string[] = [];
    cliPlatform({}, {}, (line) => lines.push(line)).warning('revoke failed');
    expect(lines).toEqual(['warning: revoke failed']);
  });
});
