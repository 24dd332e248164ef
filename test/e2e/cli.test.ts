import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLocalIssuer, type LocalIssuer } from '../../src/demo/issuer.js';
import { decodeMarker } from '../../src/providers/types.js';
import {
  loginError,
  query,
  roleFacts,
  startLocalPostgres,
  type LocalPostgres
} from '../helpers/postgres.js';

const run = promisify(execFile);
let db: LocalPostgres;
let issuer: LocalIssuer;
let dir: string;

/** Runs the bundled CLI; resolves its exit code and output instead of throwing on failure. */
async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['dist/cli/index.js', ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  db = await startLocalPostgres();
  await query(db.adminUrl, 'CREATE ROLE app_read NOLOGIN');
  issuer = await startLocalIssuer({
    project_id: '42',
    project_path: 'acme/app',
    job_id: '9001',
    pipeline_id: '77',
    ref: 'main',
    sub: 'project_path:acme/app:ref_type:branch:ref:main'
  });
  dir = mkdtempSync(join(tmpdir(), 'ec-cli-'));
});
afterAll(async () => {
  await issuer?.close();
  await db?.stop();
});

describe('the CLI, as a GitLab job would use it', () => {
  test('issue writes a 0600 vars file that the shell loads and that connects; revoke drops the user', async () => {
    const vars = join(dir, 'job.env');
    const state = join(dir, 'job.state');
    const env = {
      EPHEMERAL_CREDENTIALS_ADMIN_URL: db.adminUrl,
      GITLAB_CI: 'true',
      GITLAB_OIDC_TOKEN: await issuer.mint('ephemeral-credentials')
    };
    const issued = await cli(
      [
        'issue',
        '--provider',
        'postgres',
        '--roles',
        'app_read',
        '--ttl',
        '10m',
        '--id-token-env',
        'GITLAB_OIDC_TOKEN',
        '--vars-file',
        vars,
        '--state-file',
        state
      ],
      env
    );
    expect(issued).toMatchObject({ code: 0, stdout: '' });
    expect(statSync(vars).mode & 0o777).toBe(0o600);
    expect(statSync(state).mode & 0o777).toBe(0o600);

    // Load the file the way the GitLab component does, then let pg read the PG* variables.
    const { stdout } = await run(
      'bash',
      [
        '-c',
        `set -a; . "${vars}"; set +a; exec "${process.execPath}" -e "
      const pg = require('pg'); const c = new pg.Client(); c.connect().then(() => c.query('select current_user as u'))
        .then((r) => { console.log(r.rows[0].u + ' ' + process.env.DATABASE_URL.startsWith('postgres://')); return c.end(); })"`
      ],
      { env: { PATH: process.env.PATH ?? '', NODE_PATH: join(process.cwd(), 'node_modules') } }
    );
    const username = JSON.parse(readFileSync(state, 'utf8')).username as string;
    expect(stdout.trim()).toBe(`${username} true`);
    expect(readFileSync(state, 'utf8')).not.toContain(
      readFileSync(vars, 'utf8').match(/PGPASSWORD='(.*)'/)![1]
    );
    expect(decodeMarker((await roleFacts(db.adminUrl, username))!.marker)!.run).toMatchObject({
      platform: 'gitlab',
      source: 'oidc',
      repository_id: '42',
      run_id: '9001'
    });

    const revoked = await cli(['revoke', '--state-file', state], {
      EPHEMERAL_CREDENTIALS_ADMIN_URL: db.adminUrl
    });
    expect(revoked.code).toBe(0);
    expect(revoked.stderr).toContain(`Revoked postgres user ${username}`);
    expect(await roleFacts(db.adminUrl, username)).toBeUndefined();
    expect(
      (
        await cli(['revoke', '--state-file', state], {
          EPHEMERAL_CREDENTIALS_ADMIN_URL: db.adminUrl
        })
      ).stderr
    ).toContain('already gone');
  });

  test('--format json prints the same variables as JSON', async () => {
    const out = await cli([
      'issue',
      '--provider',
      'postgres',
      '--admin-url',
      db.adminUrl,
      '--format',
      'json',
      '--env-prefix',
      'DB_',
      '--ttl',
      '2s'
    ]);
    expect(out.code).toBe(0);
    const vars = JSON.parse(out.stdout) as Record<string, string>;
    expect(Object.keys(vars)).toEqual([
      'DB_DATABASE_URL',
      'DB_PGHOST',
      'DB_PGPORT',
      'DB_PGUSER',
      'DB_PGPASSWORD',
      'DB_PGDATABASE'
    ]);
    expect(await loginError(vars.DB_DATABASE_URL!)).toBeUndefined();
    expect(out.stderr).not.toContain(vars.DB_PGPASSWORD!);
  });

  test('sweep lists and removes expired users', async () => {
    const out = await cli([
      'issue',
      '--provider',
      'postgres',
      '--admin-url',
      db.adminUrl,
      '--format',
      'json',
      '--ttl',
      '1s',
      '--username-prefix',
      'swp'
    ]);
    const user = (JSON.parse(out.stdout) as Record<string, string>).PGUSER!;
    await new Promise((resolve) => setTimeout(resolve, 2100)); // 1s, rounded up to a whole second
    const env = { EPHEMERAL_CREDENTIALS_ADMIN_URL: db.adminUrl };
    const dry = await cli(['sweep', '--provider', 'postgres', '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`would revoke ${user}`);
    expect(await roleFacts(db.adminUrl, user)).toBeDefined();
    const real = await cli(['sweep', '--provider', 'postgres'], env);
    expect(real.stdout).toContain(`revoked ${user}`);
    expect(await roleFacts(db.adminUrl, user)).toBeUndefined();
  });

  test.each([
    [['issue', '--provider', 'postgres', '--ttl', 'abc'], 2, /ttl "abc" is not a duration/],
    [['issue', '--provider', 'postgres', '--roles', "a'b"], 2, /role "a'b" is not a plain name/],
    [['issue', '--provider', 'postgres', '--format', 'yaml'], 2, /format "yaml" is not known/],
    [
      ['issue', '--provider', 'aws'],
      2,
      /admin-url is for database providers; provider aws uses role-to-assume/
    ],
    [
      ['sweep', '--provider', 'aws'],
      2,
      /provider aws has no database: STS sessions cannot be listed or swept/
    ],
    [['issue', '--nope'], 2, /Unknown option '--nope'/],
    [['launch'], 2, /unknown command "launch"/],
    [['revoke'], 2, /revoke needs --state-file/],
    [['serve', '--config', 'missing.yml'], 2, /config missing\.yml: ENOENT/],
    [['serve'], 2, /serve needs --config FILE/]
  ])('%p exits %i with a clear message', async (args, code, message) => {
    const out = await cli(args, { EPHEMERAL_CREDENTIALS_ADMIN_URL: db.adminUrl });
    expect(out.code).toBe(code);
    expect(out.stderr).toMatch(message);
  });

  test('a database that is down is a failure (exit 1), not bad input', async () => {
    const down = new URL(db.adminUrl);
    down.port = '1';
    const out = await cli(['sweep', '--provider', 'postgres', '--admin-url', down.href]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/Could not sweep PostgreSQL users on 127\.0\.0\.1:1/);
    expect(out.stderr).not.toContain(new URL(db.adminUrl).password);
  });

  test('--help works for every command', async () => {
    for (const command of ['issue', 'revoke', 'sweep', 'serve', 'demo']) {
      const out = await cli([command, '--help']);
      expect(out.code).toBe(0);
      expect(out.stdout).toContain(`ephemeral-credentials ${command}`);
    }
  });

  test('demo runs the whole life of a credential with nothing set up', async () => {
    const out = await cli(['demo']);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/connected as ci_[0-9a-f]{8}_[a-z0-9]{8}/);
    expect(out.stdout).toMatch(/refused, as it should be: password authentication failed/);
  });
});
