import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseBrokerConfig } from '../../src/broker/config.js';
import { startBroker } from '../../src/broker/server.js';
import { startLocalIssuer, type LocalIssuer } from '../../src/demo/issuer.js';
import {
  mysqlClient,
  mysqlQuery,
  startLocalMariaDb,
  type LocalMariaDb
} from '../helpers/mariadb.js';
import { leakedLines, newJob, runStep } from '../helpers/runner.js';

// The bundles run against a real MariaDB exactly as the GitHub runner and a GitLab job run them.
const run = promisify(execFile);
let db: LocalMariaDb;
let issuer: LocalIssuer;
let adminUrl: string;

const userExists = async (user: string) =>
  (await mysqlQuery(db.adminUrl, 'SELECT 1 FROM mysql.user WHERE User = ?', [user])).length > 0;

beforeAll(async () => {
  db = await startLocalMariaDb();
  adminUrl = Object.assign(new URL(db.adminUrl), { pathname: '/app' }).href;
  await mysqlQuery(db.adminUrl, 'CREATE ROLE IF NOT EXISTS app_read');
  await mysqlQuery(db.adminUrl, 'GRANT SELECT ON app.* TO app_read');
  issuer = await startLocalIssuer({
    repository: 'acme/app',
    repository_id: '99',
    run_id: '5',
    run_attempt: '1',
    sub: 'repo:acme/app:ref:refs/heads/main' // a broker requires a subject, as GitHub's tokens have
  });
}, 60_000);
afterAll(async () => {
  await issuer?.close();
  await db?.stop();
});

describe('provider mysql', () => {
  test('the action: main exports masked MYSQL_* variables, post drops the user', async () => {
    const job = newJob();
    const inputs = { provider: 'mysql', 'admin-url': adminUrl, roles: 'app_read', ttl: '10m' };
    const main = await runStep('main', inputs, job, issuer.actionsEnv);
    expect(main.stderr).toBe('');
    expect(main.code).toBe(0);
    const { username, password, url } = main.outputs;
    expect(main.env).toEqual({
      DATABASE_URL: url,
      MYSQL_HOST: '127.0.0.1',
      MYSQL_TCP_PORT: String(new URL(adminUrl).port),
      MYSQL_USER: username,
      MYSQL_PWD: password,
      MYSQL_DATABASE: 'app'
    });
    expect(url).toMatch(/^mysql:\/\//);
    const secrets = [password!, url!, new URL(adminUrl).password];
    expect(main.stdout).toContain(`::add-mask::${password}`);
    for (const step of [main.stdout, main.stderr, main.summary, JSON.stringify(main.state)]) {
      expect(leakedLines(step, secrets)).toEqual([]);
    }
    const [client, ...clientArgs] = await mysqlClient();
    const { stdout } = await run(
      client!,
      [...clientArgs, '-u', username!, '-N', '-e', 'SELECT CURRENT_ROLE()', 'app'],
      {
        env: {
          PATH: process.env.PATH ?? '',
          MYSQL_HOST: '127.0.0.1',
          MYSQL_TCP_PORT: main.env.MYSQL_TCP_PORT!,
          MYSQL_PWD: password!
        }
      }
    );
    expect(stdout.trim()).toBe(/mariadb/i.test(db.version) ? 'app_read' : '`app_read`@`%`');

    const post = await runStep('post', inputs, job);
    expect(post.code).toBe(0);
    expect(post.stdout).toContain(`Revoked mysql user ${username}`);
    expect(leakedLines(post.stdout, secrets)).toEqual([]);
    expect(await userExists(username!)).toBe(false);
  });

  test('the CLI: a 0600 vars file the shell and the mariadb client load; revoke; sweep', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ec-mysql-'));
    const env = { PATH: process.env.PATH ?? '', EPHEMERAL_CREDENTIALS_ADMIN_URL: adminUrl };
    const cli = (...args: string[]) =>
      run(process.execPath, ['dist/cli/index.js', ...args], { env });
    await cli(
      'issue',
      '--provider',
      'mysql',
      '--roles',
      'app_read',
      '--vars-file',
      join(dir, 'db.env'),
      '--state-file',
      join(dir, 'db.state')
    );
    expect(statSync(join(dir, 'db.env')).mode & 0o777).toBe(0o600);
    const { stdout } = await run(
      'bash',
      [
        '-c',
        `set -a; . "${join(dir, 'db.env')}"; set +a; ${(await mysqlClient()).join(' ')} -u "$MYSQL_USER" -N -e 'SELECT CURRENT_USER()' "$MYSQL_DATABASE"`
      ],
      { env: { PATH: process.env.PATH ?? '' } }
    );
    const username = JSON.parse(readFileSync(join(dir, 'db.state'), 'utf8')).username as string;
    expect(stdout.trim()).toBe(`${username}@%`);

    expect((await cli('revoke', '--state-file', join(dir, 'db.state'))).stderr).toContain(
      `Revoked mysql user ${username}`
    );
    expect(await userExists(username)).toBe(false);
    const swept = await cli('sweep', '--provider', 'mysql', '--dry-run');
    expect(swept.stdout).toMatch(/expired user\(s\) would revoke on 127\.0\.0\.1:\d+/);
  });

  test('a broker with a MySQL target issues and, for the same run only, revokes', async () => {
    const audience = 'https://creds.example.com';
    const config = parseBrokerConfig(
      {
        issuers: [{ issuer: issuer.issuer, audiences: [audience] }],
        targets: { 'app-db': { provider: 'mysql', admin_url_env: 'APP_DB_ADMIN_URL' } },
        profiles: {
          reader: { target: 'app-db', roles: ['app_read'], bound_claims: { repository_id: '99' } }
        },
        listen: { host: '127.0.0.1', port: 0 },
        sweep_interval: '1h',
        audit_log: join(mkdtempSync(join(tmpdir(), 'ec-audit-')), 'audit.log')
      },
      { APP_DB_ADMIN_URL: adminUrl }
    );
    const broker = await startBroker(config);
    try {
      const call = async (method: string, path: string, token: string, body?: unknown) =>
        fetch(`${broker.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          ...(body ? { body: JSON.stringify(body) } : {})
        });
      const created = await call('POST', '/v1/credentials', await issuer.mint(audience), {
        profile: 'reader',
        ttl: '5m'
      });
      expect(created.status).toBe(201);
      const lease = (await created.json()) as Record<string, string>;
      expect(lease.url).toMatch(/^mysql:\/\//);
      const [row] = await mysqlQuery(lease.url!, 'SELECT CURRENT_ROLE() AS role');
      expect(row!.role).toBe(/mariadb/i.test(db.version) ? 'app_read' : '`app_read`@`%`');

      const path = `/v1/credentials/${encodeURIComponent(lease.lease_id!)}`;
      expect(
        (await call('DELETE', path, await issuer.mint(audience, { run_id: '6' }))).status
      ).toBe(403);
      expect(await userExists(lease.username!)).toBe(true);
      expect((await call('DELETE', path, await issuer.mint(audience))).status).toBe(204);
      expect(await userExists(lease.username!)).toBe(false);
    } finally {
      await broker.close();
    }
  });
});
