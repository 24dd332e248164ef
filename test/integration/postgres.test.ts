import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createServer, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { issue } from '../../src/issue.js';
import { decodeMarker } from '../../src/providers/types.js';
import { postgresProvider } from '../../src/providers/postgres.js';
import { revokeAtJobEnd, sweep } from '../../src/revoke.js';
import { parseAdminUrl, readSettings, readTarget } from '../../src/settings.js';
import { InputError } from '../../src/util/errors.js';
import { freePort } from '../../src/demo/postgres.js';
import {
  loginError,
  query,
  roleFacts,
  startLocalPostgres,
  type LocalPostgres
} from '../helpers/postgres.js';
import { recordingPlatform } from '../helpers/recording.js';

let db: LocalPostgres;
const adminPassword = () => new URL(db.adminUrl).password;
const inputs = (extra: Record<string, string> = {}) => ({
  provider: 'postgres',
  'admin-url': db.adminUrl,
  ...extra
});
const provider = () => postgresProvider(parseAdminUrl('postgres', db.adminUrl), 5000);

/** Issues through the whole story (settings, platform, provider) and returns what the job sees. */
async function issueFor(extra: Record<string, string> = {}) {
  const rec = recordingPlatform(inputs(extra));
  const credential = (await issue(readSettings(rec.platform.input), rec.platform))!;
  return { ...rec, credential, env: rec.exported() };
}

async function rolesLike(prefix: string): Promise<string[]> {
  const { rows } = await query<{ rolname: string }>(
    db.adminUrl,
    `SELECT rolname FROM pg_roles WHERE rolname LIKE $1 ORDER BY 1`,
    [`${prefix}%`]
  );
  return rows.map((r) => r.rolname);
}

beforeAll(async () => {
  db = await startLocalPostgres();
  await query(
    db.adminUrl,
    `CREATE ROLE app_read NOLOGIN; CREATE ROLE app_write NOLOGIN; CREATE ROLE unrelated NOLOGIN;
                            CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2); GRANT SELECT ON items TO app_read`
  );
});
afterAll(async () => db?.stop());

describe('issue', () => {
  test('the exported credentials connect, with exactly the requested roles and expiry', async () => {
    const before = Date.now();
    const { credential, env, of } = await issueFor({ roles: 'app_read,\napp_write', ttl: '15m' });
    const client = new pg.Client({
      host: env.PGHOST,
      port: Number(env.PGPORT),
      user: env.PGUSER,
      password: env.PGPASSWORD,
      database: env.PGDATABASE
    });
    await client.connect();
    const { rows } = await client.query<{ user: string; n: number }>(
      'SELECT current_user AS user, count(*)::int AS n FROM items'
    );
    await client.end();
    expect(rows[0]).toEqual({ user: credential.username, n: 2 });
    expect(await loginError(env.DATABASE_URL!)).toBeUndefined();

    const facts = await roleFacts(db.adminUrl, credential.username);
    expect(facts!.roles).toEqual(['app_read', 'app_write']);
    const expiry = facts!.validuntil!.getTime();
    expect(expiry).toBeGreaterThanOrEqual(before + 15 * 60_000);
    expect(expiry).toBeLessThanOrEqual(Date.now() + 15 * 60_000 + 1000);
    expect(new Date(of('output').find((o) => o.name === 'expires-at')!.value).getTime()).toBe(
      expiry
    );

    const marker = decodeMarker(facts!.marker);
    expect(marker?.run).toMatchObject({ platform: 'gitlab', repository_id: '42', run_id: '7' });
    expect(credential.username).toMatch(/^ci_[0-9a-f]{8}_[a-z0-9]{8}$/);
  });

  test('every form of the secret is masked before it is exported, output or saved', async () => {
    const { events, credential } = await issueFor({ 'env-prefix': 'APP_' });
    const password = new URL(credential.url).password;
    const masked = new Set(events.filter((e) => e.kind === 'mask').map((e) => e.value));
    expect([...masked]).toEqual(
      expect.arrayContaining([password, encodeURIComponent(password), credential.url])
    );
    for (const [i, event] of events.entries()) {
      if (event.kind === 'mask') continue;
      for (const secret of [password, credential.url]) {
        if (event.value.includes(secret)) {
          const maskedAt = events.findIndex((e) => e.kind === 'mask' && e.value === secret);
          expect(maskedAt).toBeGreaterThanOrEqual(0);
          expect(maskedAt).toBeLessThan(i);
        }
      }
      if (event.kind === 'state' || event.kind === 'info' || event.kind === 'summary') {
        expect(event.value).not.toContain(password);
      }
    }
    expect(events.filter((e) => e.kind === 'export').map((e) => e.name)).toEqual([
      'APP_DATABASE_URL',
      'APP_PGHOST',
      'APP_PGPORT',
      'APP_PGUSER',
      'APP_PGPASSWORD',
      'APP_PGDATABASE'
    ]);
  });

  test('export-env false exports nothing but still sets outputs', async () => {
    const { of } = await issueFor({ 'export-env': 'false' });
    expect(of('export')).toHaveLength(0);
    expect(of('output').map((o) => o.name)).toEqual([
      'username',
      'password',
      'url',
      'expires-at',
      'lease-id'
    ]);
  });

  test('sslmode from the admin URL is carried into the exported URL and PGSSLMODE', async () => {
    const url = new URL(db.adminUrl);
    url.searchParams.set('sslmode', 'disable');
    const rec = recordingPlatform({ provider: 'postgres', 'admin-url': url.href });
    const credential = (await issue(readSettings(rec.platform.input), rec.platform))!;
    expect(rec.exported().PGSSLMODE).toBe('disable');
    expect(new URL(credential.url).searchParams.get('sslmode')).toBe('disable');
  });

  test('a role that does not exist fails the issue and leaves no user behind', async () => {
    const before = await rolesLike('ci_');
    await expect(issueFor({ roles: 'app_read, no_such_role' })).rejects.toThrow(
      /Could not create PostgreSQL user on 127\.0\.0\.1:\d+: role "no_such_role" does not exist/
    );
    expect(await rolesLike('ci_')).toEqual(before);
  });

  test.each([
    [{ ttl: '0' }, /ttl "0" is not a duration; use e.g. 900s, 15m/],
    [{ ttl: '0m' }, /ttl "0m" must be longer than zero/],
    [{ ttl: '13h' }, /ttl "13h" is longer than the maximum 12h/],
    [{ ttl: 'abc' }, /ttl "abc" is not a duration; use e.g./],
    [
      { roles: `app_read, x'; DROP ROLE app_read; --` },
      /role "x'; DROP ROLE app_read; --" is not a plain name/
    ],
    [{ roles: 'app read' }, /role "app read" is not a plain name/],
    [{ roles: 'app"read' }, /role "app"read" is not a plain name/],
    [
      { 'admin-url': 'postgres://admin:hunter2-secret@:5432/db' },
      /admin-url is not a URL \(value hidden\)/
    ],
    [
      { 'admin-url': 'mysql://admin:hunter2-secret@db:3306/db' },
      /admin-url "mysql:\/\/admin:\*\*\*@db:3306\/db" is not a postgres URL/
    ]
  ])('bad input %p is refused with a clear message and creates nothing', async (extra, message) => {
    const before = await rolesLike('');
    const rec = recordingPlatform(inputs(extra));
    let error: unknown;
    try {
      await issue(readSettings(rec.platform.input), rec.platform);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('hunter2-secret');
    expect(rec.events).toEqual([]);
    expect(await rolesLike('')).toEqual(before);
  });

  test('an unreachable host fails within a bounded time, without the admin password in the error', async () => {
    const port = await freePort(); // nothing listens here
    const url = new URL(db.adminUrl);
    url.port = String(port);
    const started = Date.now();
    await expect(issueFor({ 'admin-url': url.href })).rejects.toThrow(
      `Could not create PostgreSQL user on 127.0.0.1:${port}`
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test('a host that accepts but never answers fails after connect-timeout', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => void sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const url = new URL(db.adminUrl);
    url.port = String((silent.address() as { port: number }).port);
    const started = Date.now();
    try {
      const error = await issueFor({ 'admin-url': url.href, 'connect-timeout': '1s' }).catch(
        (e: Error) => e
      );
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(
        /Could not create PostgreSQL user on 127\.0\.0\.1:\d+: .*timeout/i
      );
      expect((error as Error).message).not.toContain(adminPassword());
      expect(Date.now() - started).toBeLessThan(8_000);
    } finally {
      sockets.forEach((s) => s.destroy());
      silent.close();
    }
  });
});

describe('revoke', () => {
  test('ends open sessions and drops the user; the login then fails; twice is fine', async () => {
    const { credential } = await issueFor({ roles: 'app_read' });
    const session = new pg.Client({ connectionString: credential.url });
    session.on('error', () => undefined);
    await session.connect();
    await session.query('SELECT 1');

    expect(await provider().revoke(credential.username)).toBe('revoked');
    await expect(session.query('SELECT 1')).rejects.toThrow();
    await session.end().catch(() => undefined);
    expect(await loginError(credential.url)).toMatch(/password authentication failed/);
    expect(await roleFacts(db.adminUrl, credential.username)).toBeUndefined();
    expect(await provider().revoke(credential.username)).toBe('absent');
  });

  test('drops what the user created in the database', async () => {
    const { credential } = await issueFor();
    await query(db.adminUrl, 'GRANT CREATE ON SCHEMA public TO PUBLIC');
    await query(credential.url, 'CREATE TABLE scratch (id int)');
    expect(await provider().revoke(credential.username)).toBe('revoked');
    const { rows } = await query<{ owner: string }>(
      db.adminUrl,
      `SELECT tableowner AS owner FROM pg_tables WHERE tablename = 'scratch'`
    );
    expect(rows).toEqual([{ owner: 'postgres' }]);
  });

  test('refuses a role that this tool did not create', async () => {
    await query(db.adminUrl, `CREATE ROLE ci_12345678_handmade LOGIN PASSWORD 'x-handmade-1'`);
    await expect(provider().revoke('ci_12345678_handmade')).rejects.toThrow(
      /was not created by ephemeral-credentials/
    );
    expect(await roleFacts(db.adminUrl, 'ci_12345678_handmade')).toBeDefined();
  });

  test('the post step never throws: it warns and names the expiry', async () => {
    const { platform, events } = recordingPlatform(inputs());
    const settings = readSettings(platform.input);
    await issue(settings, platform);
    const port = await freePort();
    const broken = new URL(db.adminUrl);
    broken.port = String(port);
    const post = recordingPlatform({ ...inputs(), 'admin-url': broken.href });
    post.platform.loadState = platform.loadState;
    await expect(revokeAtJobEnd(post.platform)).resolves.toBeUndefined();
    const warning = post.of('warning')[0]!.value;
    expect(warning).toMatch(
      /Could not revoke the credential: .*It still expires at \d{4}-\d\d-\d\dT/
    );
    expect(warning).not.toContain(adminPassword());
    const state = JSON.parse(events.find((e) => e.kind === 'state')!.value);
    await provider().revoke(state.username);
  });

  test('revoke: false leaves the user to its TTL', async () => {
    const rec = recordingPlatform(inputs({ revoke: 'false' }));
    const credential = (await issue(readSettings(rec.platform.input), rec.platform))!;
    await revokeAtJobEnd(rec.platform);
    expect(await loginError(credential.url)).toBeUndefined();
    await provider().revoke(credential.username);
  });
});

describe('an admin that is not a superuser', () => {
  test('a CREATEROLE admin without pg_signal_backend issues, and revokes a user with a session and tables', async () => {
    await query(
      db.adminUrl,
      `CREATE ROLE ci_admin LOGIN CREATEROLE PASSWORD 'admin-pw-1234';
                              GRANT app_read TO ci_admin WITH ADMIN OPTION;
                              GRANT CREATE ON SCHEMA public TO PUBLIC`
    );
    const adminUrl = new URL(db.adminUrl);
    adminUrl.username = 'ci_admin';
    adminUrl.password = 'admin-pw-1234';
    const { credential } = await issueFor({ 'admin-url': adminUrl.href, roles: 'app_read' });
    expect((await roleFacts(db.adminUrl, credential.username))!.roles).toEqual(['app_read']);
    await query(credential.url, 'CREATE TABLE made_by_job (id int)');
    const session = new pg.Client({ connectionString: credential.url });
    session.on('error', () => undefined);
    await session.connect();

    const asAdmin = postgresProvider(parseAdminUrl('postgres', adminUrl.href), 5000);
    expect(await asAdmin.revoke(credential.username)).toBe('revoked');
    await expect(session.query('SELECT 1')).rejects.toThrow();
    expect(await roleFacts(db.adminUrl, credential.username)).toBeUndefined();
    const { rows } = await query<{ owner: string }>(
      db.adminUrl,
      `SELECT tableowner AS owner FROM pg_tables WHERE tablename = 'made_by_job'`
    );
    expect(rows).toEqual([{ owner: 'ci_admin' }]);
  });
});

describe('expiry without revoke', () => {
  test('a user issued for 2 seconds cannot log in after 3 seconds', async () => {
    const { credential } = await issueFor({ ttl: '2s' });
    expect(await loginError(credential.url)).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(await loginError(credential.url)).toMatch(/password authentication failed/);
  });
});

describe('sweep', () => {
  test('removes expired marked users, lists them in a dry run, and never touches an unmarked role', async () => {
    const target = readTarget(recordingPlatform(inputs()).platform.input);
    const expired = await issueFor({ ttl: '1s', 'username-prefix': 'sw' });
    const live = await issueFor({ ttl: '1h', 'username-prefix': 'sw' });
    await query(
      db.adminUrl,
      `CREATE ROLE sw_00000000_unmarked LOGIN PASSWORD 'x-unmarked-1' VALID UNTIL '2000-01-01'`
    );
    await query(
      db.adminUrl,
      `COMMENT ON ROLE sw_00000000_unmarked IS 'ephemeral-credentials: looks like ours, is not'`
    );
    await new Promise((resolve) => setTimeout(resolve, 2100)); // 1s, rounded up to a whole second

    const lines: string[] = [];
    expect(await sweep(target, true, (l) => lines.push(l))).toContain(expired.credential.username);
    expect(lines.join('\n')).toContain(`would revoke ${expired.credential.username}`);
    expect(await rolesLike('sw_')).toContain(expired.credential.username);

    // Two sweepers at once: each role is dropped once and neither fails.
    const [a, b] = await Promise.all([
      sweep(target, false, () => undefined),
      sweep(target, false, () => undefined)
    ]);
    expect([...a, ...b].filter((u) => u === expired.credential.username)).toHaveLength(1);
    expect(await rolesLike('sw_')).toEqual(
      [live.credential.username, 'sw_00000000_unmarked'].sort()
    );
    await provider().revoke(live.credential.username);
  });

  test('a role that cannot be dropped is reported and does not stop the others', async () => {
    const target = readTarget(recordingPlatform(inputs()).platform.input);
    const started = Date.now();
    const stuck = await issueFor({ ttl: '3s', 'username-prefix': 'st' });
    const other = await issueFor({ ttl: '1s', 'username-prefix': 'st' });
    // An object in another database: REASSIGN OWNED only reaches the admin URL's database.
    await query(db.adminUrl, 'CREATE DATABASE elsewhere');
    const elsewhere = (url: string) => Object.assign(new URL(url), { pathname: '/elsewhere' }).href;
    await query(elsewhere(db.adminUrl), 'GRANT CREATE ON SCHEMA public TO PUBLIC');
    await query(elsewhere(stuck.credential.url), 'CREATE TABLE owned_elsewhere (id int)');
    await new Promise((resolve) => setTimeout(resolve, started + 4100 - Date.now()));

    await expect(sweep(target, false, () => undefined)).rejects.toThrow(
      new RegExp(
        `could not revoke ${stuck.credential.username} \\(.*objects? in database elsewhere`
      )
    );
    expect(await roleFacts(db.adminUrl, other.credential.username)).toBeUndefined();
    expect(await roleFacts(db.adminUrl, stuck.credential.username)).toBeDefined();
    await query(elsewhere(db.adminUrl), 'DROP TABLE owned_elsewhere');
    expect(await sweep(target, false, () => undefined)).toEqual([stuck.credential.username]);
  });
});
