import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { mysqlQuery, startLocalMariaDb, type LocalMariaDb } from '../helpers/mariadb.js';

// With MYSQL_TEST_ADMIN_URL the server is a CI service container that the helper only borrows.
const local = !process.env.MYSQL_TEST_ADMIN_URL;
// The external server is shared by every test file running at once, so names must not collide.
const name = (kind: string) => `h_${kind}_${randomBytes(4).toString('hex')}`;

let db: LocalMariaDb;
let startMs = 0;

beforeAll(async () => {
  const started = Date.now();
  db = await startLocalMariaDb();
  startMs = Date.now() - started;
});

afterAll(async () => {
  await db?.stop();
});

async function one(sql: string, values: unknown[] = []): Promise<RowDataPacket | undefined> {
  const rows = await mysqlQuery<RowDataPacket[]>(db.adminUrl, sql, values);
  return rows[0];
}

async function userExists(user: string): Promise<boolean> {
  return (await one('SELECT COUNT(*) AS n FROM mysql.user WHERE user = ?', [user]))?.n > 0;
}

describe('the MariaDB test server', () => {
  test('answers as an admin with the event scheduler on', async () => {
    expect(startMs).toBeLessThan(20_000);
    expect(db.version).toMatch(/^\d+\.\d+\.\d+/);
    expect((await one('SELECT @@event_scheduler AS s'))?.s).toBe('ON');
    expect((await one('SELECT DATABASE() AS d'))?.d).toBe(new URL(db.adminUrl).pathname.slice(1));
    expect(await one("SHOW DATABASES LIKE 'app'")).toBeDefined();
  });

  (local ? test : test.skip)('lives in its own directory on its own port', async () => {
    expect(db.port).not.toBe(3306);
    expect(new URL(db.adminUrl).hostname).toBe('127.0.0.1');
    const row = await one('SELECT @@datadir AS datadir, @@socket AS socket, @@port AS port');
    expect(row?.port).toBe(db.port);
    expect(row?.datadir).toMatch(new RegExp(`^${tmpdir()}/`));
    expect(String(row?.socket).startsWith(dirname(row?.datadir))).toBe(true);
  });

  test('lets the admin create users, roles and one-shot events that fire', async () => {
    const user = name('user');
    const role = name('role');
    const event = name('event');
    const password = randomBytes(12).toString('base64url');
    const q = (sql: string, values: unknown[] = []) => mysqlQuery(db.adminUrl, sql, values);
    try {
      await q('CREATE ROLE ??', [role]);
      await q('GRANT SELECT ON app.* TO ??', [role]);
      await q("CREATE USER ?@'%' IDENTIFIED BY ?", [user, password]);
      await q("GRANT ?? TO ?@'%'", [role, user]);
      const grants = await mysqlQuery<RowDataPacket[]>(db.adminUrl, "SHOW GRANTS FOR ?@'%'", [
        user
      ]);
      expect(JSON.stringify(grants)).toContain(role);

      // No database in the URL: MySQL and MariaDB differ in whether a default role counts there.
      const userUrl = `mysql://${user}:${password}@127.0.0.1:${db.port}`;
      const [me] = await mysqlQuery<RowDataPacket[]>(userUrl, 'SELECT CURRENT_USER() AS u');
      expect(me?.u).toBe(`${user}@%`);

      // The shape of the providers' expiry: the database drops the user with nothing of ours up.
      await q(
        "CREATE EVENT app.?? ON SCHEDULE AT CURRENT_TIMESTAMP + INTERVAL 1 SECOND ON COMPLETION NOT PRESERVE DO DROP USER IF EXISTS ?@'%'",
        [event, user]
      );
      const deadline = Date.now() + 15_000;
      while ((await userExists(user)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(await userExists(user)).toBe(false);
    } finally {
      await q('DROP EVENT IF EXISTS app.??', [event]);
      await q("DROP USER IF EXISTS ?@'%'", [user]);
      await q('DROP ROLE IF EXISTS ??', [role]);
    }
  });

  (local ? test : test.skip)('stop() ends the server and removes its directory', async () => {
    const dir = dirname(String((await one('SELECT @@datadir AS d'))?.d));
    expect(existsSync(join(dir, 'data'))).toBe(true);
    await db.stop();
    expect(existsSync(dir)).toBe(false);
    await expect(mysqlQuery(db.adminUrl, 'SELECT 1')).rejects.toThrow();
    await db.stop(); // twice is harmless: afterAll calls it again
  });
});
