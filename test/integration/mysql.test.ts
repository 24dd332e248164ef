import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { issue } from '../../src/issue.js';
import { mysqlProvider } from '../../src/providers/mysql.js';
import { decodeMarker } from '../../src/providers/types.js';
import { sweep } from '../../src/revoke.js';
import { parseAdminUrl, readSettings, readTarget } from '../../src/settings.js';
import { InputError } from '../../src/util/errors.js';
import {
  mysqlClient,
  mysqlQuery,
  startLocalMariaDb,
  type LocalMariaDb
} from '../helpers/mariadb.js';
import { recordingPlatform } from '../helpers/recording.js';

let db: LocalMariaDb;
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const inputs = (extra: Record<string, string> = {}) => ({
  provider: 'mysql',
  'admin-url': appUrl(),
  ...extra
});
const appUrl = () => Object.assign(new URL(db.adminUrl), { pathname: '/app' }).href;
const provider = () => mysqlProvider(parseAdminUrl('mysql', appUrl()), 5000);
const isMariaDb = () => /mariadb/i.test(db.version);
// CURRENT_ROLE() reads `app_read` on MariaDB and `app_read`@`%` on MySQL.
const shownRole = (role: string) => (isMariaDb() ? role : `\`${role}\`@\`%\``);

async function issueFor(extra: Record<string, string> = {}) {
  const rec = recordingPlatform(inputs(extra));
  const credential = (await issue(readSettings(rec.platform.input), rec.platform))!;
  return { ...rec, credential, env: rec.exported() };
}

/** Logs in with a URL; resolves the error message, or undefined when the login works. */
async function loginError(url: string): Promise<string | undefined> {
  try {
    await mysqlQuery(url, 'SELECT 1');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

async function accounts(like: string): Promise<string[]> {
  const rows = await mysqlQuery(
    db.adminUrl,
    'SELECT User AS user FROM mysql.user WHERE User LIKE ? ORDER BY User',
    [`${like}%`]
  );
  return rows.map((r) => String(r.user));
}

beforeAll(async () => {
  db = await startLocalMariaDb();
  for (const sql of [
    'CREATE ROLE app_read',
    'CREATE ROLE app_write',
    'CREATE TABLE app.items (id INT)',
    'INSERT INTO app.items VALUES (1), (2)',
    'GRANT SELECT ON app.* TO app_read'
  ]) {
    await mysqlQuery(db.adminUrl, sql);
  }
}, 60_000);
afterAll(async () => db?.stop());

describe('issue', () => {
  test('the exported variables connect, with the role active at login, a marker and an expiry event', async () => {
    const before = Date.now();
    const { credential, env, of } = await issueFor({ roles: 'app_read', ttl: '15m' });
    expect(credential.username).toMatch(/^ci_[0-9a-f]{8}_[a-z0-9]{8}$/);
    expect(credential.username.length).toBeLessThanOrEqual(32);
    expect(Object.keys(env)).toEqual([
      'DATABASE_URL',
      'MYSQL_HOST',
      'MYSQL_TCP_PORT',
      'MYSQL_USER',
      'MYSQL_PWD',
      'MYSQL_DATABASE'
    ]);

    const conn = await mysql.createConnection({
      host: env.MYSQL_HOST,
      port: Number(env.MYSQL_TCP_PORT),
      user: env.MYSQL_USER,
      password: env.MYSQL_PWD,
      database: env.MYSQL_DATABASE
    });
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      'SELECT CURRENT_ROLE() AS role, (SELECT COUNT(*) FROM items) AS n'
    );
    await conn.end();
    expect(rows[0]).toMatchObject({ role: shownRole('app_read'), n: 2 });

    // The command-line client reads the same variables.
    const [client, ...clientArgs] = await mysqlClient();
    const { stdout } = await run(
      client!,
      [...clientArgs, '-u', env.MYSQL_USER!, '-N', '-e', 'SELECT CURRENT_USER()'],
      {
        env: {
          PATH: process.env.PATH ?? '',
          MYSQL_HOST: env.MYSQL_HOST!,
          MYSQL_TCP_PORT: env.MYSQL_TCP_PORT!,
          MYSQL_PWD: env.MYSQL_PWD!
        }
      }
    );
    expect(stdout.trim()).toBe(`${credential.username}@%`);
    expect(await loginError(env.DATABASE_URL!)).toBeUndefined();

    const [booked] = await mysqlQuery(
      db.adminUrl,
      'SELECT marker FROM ephemeral_credentials.users WHERE user = ?',
      [credential.username]
    );
    expect(decodeMarker(String(booked!.marker))?.run).toMatchObject({
      platform: 'gitlab',
      repository_id: '42'
    });
    const [event] = await mysqlQuery(
      db.adminUrl,
      `SELECT UNIX_TIMESTAMP(CONVERT_TZ(execute_at, time_zone, '+00:00')) * 1000 AS at FROM information_schema.events WHERE event_schema = 'ephemeral_credentials' AND event_name = ?`,
      [`expire_${credential.username}`]
    );
    expect(Number(event!.at)).toBe(
      new Date(of('output').find((o) => o.name === 'expires-at')!.value).getTime()
    );
    expect(Number(event!.at)).toBeGreaterThanOrEqual(before + 15 * 60_000);
    expect(of('warning')).toEqual([]);
    await provider().revoke(credential.username);
  });

  test('a role that does not exist fails the issue and leaves no user, row or event behind', async () => {
    const before = await accounts('ci_');
    await expect(issueFor({ roles: 'no_such_role' })).rejects.toThrow(
      /Could not create MySQL user on 127\.0\.0\.1:\d+: .*no_such_role/
    );
    expect(await accounts('ci_')).toEqual(before);
    const rows = await mysqlQuery(
      db.adminUrl,
      'SELECT user FROM ephemeral_credentials.users WHERE user NOT IN (SELECT user FROM mysql.user)'
    );
    expect(rows).toEqual([]);
  });

  test.each([
    [{ ttl: '13h' }, /ttl "13h" is longer than the maximum 12h/],
    [{ roles: "app'read" }, /role "app'read" is not a plain name/],
    [{ 'user-host': "%' OR 1=1" }, /user-host "%' OR 1=1" is not a MySQL host pattern/],
    [{ 'admin-url': 'postgres://admin:hunter2-secret@db:5432/app' }, /is not a mysql URL/]
  ])('bad input %p is refused with a clear message and creates nothing', async (extra, message) => {
    const before = await accounts('');
    const error = await issueFor(extra).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('hunter2-secret');
    expect(error).toBeInstanceOf(InputError);
    expect(await accounts('')).toEqual(before);
  });
});

test('several roles: all active at login on MySQL; refused before anything is made on MariaDB', async () => {
  const before = await accounts('');
  if (isMariaDb()) {
    const error = await issueFor({ roles: 'app_read, app_write' }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(
      /MariaDB makes only one role active at login, and roles lists 2/
    );
    expect(await accounts('')).toEqual(before);
    return;
  }
  const { credential } = await issueFor({ roles: 'app_read, app_write' });
  const [row] = await mysqlQuery(credential.url, 'SELECT CURRENT_ROLE() AS roles');
  expect(String(row!.roles).split(',').sort()).toEqual([
    shownRole('app_read'),
    shownRole('app_write')
  ]);
  await provider().revoke(credential.username);
});

describe('revoke', () => {
  test('kills open connections and drops the user; twice is fine; an unmarked user is refused', async () => {
    const { credential } = await issueFor({ roles: 'app_read' });
    const session = await mysql.createConnection(credential.url);
    session.on('error', () => undefined);
    await session.query('SELECT 1');

    expect(await provider().revoke(credential.username)).toBe('revoked');
    await expect(session.query('SELECT 1')).rejects.toThrow();
    session.destroy();
    expect(await loginError(credential.url)).toMatch(/Access denied/);
    expect(await accounts(credential.username)).toEqual([]);
    const events = await mysqlQuery(
      db.adminUrl,
      'SELECT event_name FROM information_schema.events WHERE event_name = ?',
      [`expire_${credential.username}`]
    );
    expect(events).toEqual([]);
    expect(await provider().revoke(credential.username)).toBe('absent');

    await mysqlQuery(
      db.adminUrl,
      `CREATE USER 'ci_12345678_handmade'@'%' IDENTIFIED BY 'x-handmade-1'`
    );
    await expect(provider().revoke('ci_12345678_handmade')).rejects.toThrow(
      /was not created by ephemeral-credentials/
    );
    expect(await accounts('ci_12345678_handmade')).toEqual(['ci_12345678_handmade']);
  });
});

describe('an admin with only the privileges the README lists', () => {
  test('issues with the role active at login, and without EVENT warns and still revokes', async () => {
    const narrow = (name: string) =>
      Object.assign(new URL(appUrl()), { username: name, password: `${name}-pw-1234` }).href;
    const grants = (name: string, extra: string) => [
      `CREATE USER ${name} IDENTIFIED BY '${name}-pw-1234'`,
      `GRANT CREATE USER, PROCESS ON *.* TO ${name}`,
      ...(isMariaDb()
        ? [`GRANT CONNECTION ADMIN ON *.* TO ${name}`]
        : [`GRANT CONNECTION_ADMIN ON *.* TO ${name}`]),
      `GRANT SELECT ON mysql.user TO ${name}`,
      `GRANT CREATE, INSERT, SELECT, DELETE${extra} ON ephemeral_credentials.* TO ${name}`,
      `GRANT app_read TO ${name} WITH ADMIN OPTION`
    ];
    for (const sql of [...grants('ci_admin_ev', ', EVENT'), ...grants('ci_admin_noev', '')])
      await mysqlQuery(db.adminUrl, sql);

    const withEvent = recordingPlatform(
      inputs({ 'admin-url': narrow('ci_admin_ev'), roles: 'app_read' })
    );
    const credential = (await issue(readSettings(withEvent.platform.input), withEvent.platform))!;
    expect(withEvent.of('warning')).toEqual([]);
    const [row] = await mysqlQuery(credential.url, 'SELECT CURRENT_ROLE() AS role');
    expect(row!.role).toBe(shownRole('app_read'));
    const session = await mysql.createConnection(credential.url);
    session.on('error', () => undefined);
    const asNarrow = mysqlProvider(parseAdminUrl('mysql', narrow('ci_admin_ev')), 5000);
    expect(await asNarrow.revoke(credential.username)).toBe('revoked');
    await expect(session.query('SELECT 1')).rejects.toThrow();
    session.destroy();

    const noEvent = recordingPlatform(inputs({ 'admin-url': narrow('ci_admin_noev') }));
    const second = (await issue(readSettings(noEvent.platform.input), noEvent.platform))!;
    expect(noEvent.of('warning')[0]?.value).toMatch(
      /Could not create the expiry event .*Grant the admin EVENT on ephemeral_credentials/
    );
    const withoutEvent = mysqlProvider(parseAdminUrl('mysql', narrow('ci_admin_noev')), 5000);
    expect(await withoutEvent.revoke(second.username)).toBe('revoked');
    expect(await accounts(second.username)).toEqual([]);
    expect(
      await mysqlQuery(db.adminUrl, 'SELECT 1 FROM ephemeral_credentials.users WHERE user = ?', [
        second.username
      ])
    ).toEqual([]);
  });
});

describe('expiry without revoke', () => {
  test("a user issued for 2 seconds is dropped by the server's own event, its session ended", async () => {
    const { credential } = await issueFor({ ttl: '2s', roles: 'app_read' });
    const session = await mysql.createConnection(credential.url);
    session.on('error', () => undefined);
    await session.query('SELECT 1');
    await sleep(4000); // 2s rounded up to a whole second, plus the scheduler's one-second tick
    expect(await loginError(credential.url)).toMatch(/Access denied/);
    await expect(session.query('SELECT 1')).rejects.toThrow();
    session.destroy();
    expect(await accounts(credential.username)).toEqual([]);
  });
});

describe('sweep, and a server whose event scheduler is off', () => {
  test('warns that the server will not expire users, and sweep removes them, leaving unmarked users alone', async () => {
    await mysqlQuery(db.adminUrl, 'SET GLOBAL event_scheduler = OFF');
    try {
      const expired = await issueFor({ ttl: '1s', 'username-prefix': 'sw' });
      const live = await issueFor({ ttl: '1h', 'username-prefix': 'sw' });
      expect(expired.of('warning')[0]?.value).toMatch(
        /event scheduler is off .*SET GLOBAL event_scheduler = ON/
      );
      await mysqlQuery(
        db.adminUrl,
        `CREATE USER 'sw_00000000_unmarked'@'%' IDENTIFIED BY 'x-unmarked-1'`
      );
      await sleep(2100); // 1s, rounded up to a whole second
      const target = readTarget(recordingPlatform(inputs()).platform.input);

      const lines: string[] = [];
      expect(await sweep(target, true, (l) => lines.push(l))).toEqual([
        expired.credential.username
      ]);
      expect(await accounts('sw_')).toContain(expired.credential.username);
      const [a, b] = await Promise.all([
        sweep(target, false, () => undefined),
        sweep(target, false, () => undefined)
      ]);
      expect([...a, ...b]).toEqual([expired.credential.username]);
      expect(await accounts('sw_')).toEqual(
        [live.credential.username, 'sw_00000000_unmarked'].sort()
      );
      await provider().revoke(live.credential.username);
    } finally {
      await mysqlQuery(db.adminUrl, 'SET GLOBAL event_scheduler = ON');
    }
  });
});
