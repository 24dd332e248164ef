import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startLocalIssuer, type LocalIssuer } from '../../src/demo/issuer.js';
import { freePort } from '../../src/demo/postgres.js';
import { decodeMarker } from '../../src/providers/types.js';
import {
  loginError,
  query,
  roleFacts,
  startLocalPostgres,
  type LocalPostgres
} from '../helpers/postgres.js';
import { leakedLines, newJob, RUN_ENV, runStep, type StepResult } from '../helpers/runner.js';

// The bundles in dist/ run as child processes exactly as the GitHub runner runs them.
let db: LocalPostgres;
let issuer: LocalIssuer;

beforeAll(async () => {
  db = await startLocalPostgres();
  await query(db.adminUrl, 'CREATE ROLE app_read NOLOGIN');
  issuer = await startLocalIssuer({
    repository: 'acme/app',
    repository_id: '123456789',
    run_id: '777',
    run_attempt: '2',
    workflow: 'ci',
    ref: 'refs/heads/main',
    actor: 'octocat',
    sub: 'repo:acme/app:ref:refs/heads/main'
  });
});
afterAll(async () => {
  await issuer?.close();
  await db?.stop();
});

const secretsOf = (main: StepResult) => {
  const password = main.outputs.password!;
  return [password, encodeURIComponent(password), main.outputs.url!, new URL(db.adminUrl).password];
};

function expectNoLeak(step: StepResult, secrets: string[]) {
  expect(leakedLines(step.stdout, secrets)).toEqual([]);
  expect(leakedLines(step.stderr, secrets)).toEqual([]);
  expect(leakedLines(step.summary, secrets)).toEqual([]);
}

describe('the action on a GitHub runner', () => {
  test('main issues a masked, exported user from the OIDC run identity; post revokes it', async () => {
    const job = newJob();
    const inputs = {
      provider: 'postgres',
      'admin-url': db.adminUrl,
      roles: 'app_read',
      ttl: '15m',
      revoke: 'true'
    };
    const main = await runStep('main', inputs, job, issuer.actionsEnv);
    expect(main.stderr).toBe('');
    expect(main.code).toBe(0);

    const { username, password, url } = main.outputs;
    expect(Object.keys(main.outputs).sort()).toEqual([
      'expires-at',
      'lease-id',
      'password',
      'url',
      'username'
    ]);
    expect(main.env).toEqual({
      DATABASE_URL: url,
      PGHOST: '127.0.0.1',
      PGPORT: String(db.port),
      PGUSER: username,
      PGPASSWORD: password,
      PGDATABASE: 'postgres'
    });
    // Masks come first, for each form, before any line that could carry the secret.
    const masks = main.stdout
      .split('\n')
      .filter((l) => l.startsWith('::add-mask::'))
      .map((l) => l.slice(12));
    expect(masks).toEqual(expect.arrayContaining([password, url]));
    expectNoLeak(main, secretsOf(main));
    expect(JSON.stringify(main.state)).not.toContain(password!);
    expect(JSON.stringify(main.state)).not.toContain(new URL(db.adminUrl).password);
    expect(main.summary).toContain(username);
    expect(main.summary).toContain('app_read');

    expect(await loginError(url!)).toBeUndefined();
    const facts = await roleFacts(db.adminUrl, username!);
    expect(facts!.roles).toEqual(['app_read']);
    expect(decodeMarker(facts!.marker)!.run).toMatchObject({
      source: 'oidc',
      repository_id: '123456789',
      run_attempt: '2'
    });

    const post = await runStep('post', inputs, job);
    expect(post.code).toBe(0);
    expect(post.stdout).toContain(`Revoked postgres user ${username}`);
    expect(post.summary).toMatch(new RegExp(`${username} revoked at \\d{4}-`));
    expectNoLeak(post, secretsOf(main));
    expect(await loginError(url!)).toMatch(/password authentication failed/);
  });

  test('without id-token permission the run identity comes from GITHUB_* variables', async () => {
    const job = newJob();
    const inputs = {
      provider: 'postgres',
      'admin-url': db.adminUrl,
      ttl: '5m',
      'env-prefix': 'APP_'
    };
    const main = await runStep('main', inputs, job);
    expect(main.code).toBe(0);
    expect(Object.keys(main.env).sort()).toEqual([
      'APP_DATABASE_URL',
      'APP_PGDATABASE',
      'APP_PGHOST',
      'APP_PGPASSWORD',
      'APP_PGPORT',
      'APP_PGUSER'
    ]);
    const facts = await roleFacts(db.adminUrl, main.outputs.username!);
    expect(decodeMarker(facts!.marker)!.run).toMatchObject({
      source: 'env',
      repository_id: RUN_ENV.GITHUB_REPOSITORY_ID,
      run_id: RUN_ENV.GITHUB_RUN_ID
    });
    expect((await runStep('post', inputs, job)).code).toBe(0);
    expect(await roleFacts(db.adminUrl, main.outputs.username!)).toBeUndefined();
  });

  test('bad input fails main with a clear error, creates nothing, and post has nothing to do', async () => {
    const count = async () =>
      (await query<{ n: number }>(db.adminUrl, 'SELECT count(*)::int AS n FROM pg_roles')).rows[0]!
        .n;
    const before = await count();
    const job = newJob();
    const inputs = { provider: 'postgres', 'admin-url': db.adminUrl, ttl: '13h' };
    const main = await runStep('main', inputs, job, issuer.actionsEnv);
    expect(main.code).toBe(1);
    expect(main.stdout).toContain('::error::ttl "13h" is longer than the maximum 12h');
    expect(main.state).toEqual({});
    const post = await runStep('post', inputs, job);
    expect(post.code).toBe(0);
    expect(post.stdout).toContain('Nothing to revoke');
    expect(await count()).toBe(before);
  });

  test('a post step that cannot reach the database warns and does not fail the job', async () => {
    const job = newJob();
    const inputs = { provider: 'postgres', 'admin-url': db.adminUrl, ttl: '5m' };
    const main = await runStep('main', inputs, job);
    expect(main.code).toBe(0);
    const down = new URL(db.adminUrl);
    down.port = String(await freePort());
    const post = await runStep('post', { ...inputs, 'admin-url': down.href }, job);
    expect(post.code).toBe(0);
    expect(post.stdout).toMatch(
      /::warning::Could not revoke the credential: .*It still expires at /
    );
    expectNoLeak(post, secretsOf(main));
    expect(await loginError(main.outputs.url!)).toBeUndefined();
    expect((await runStep('post', inputs, job)).code).toBe(0);
  });
});
