import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import type { AdminUrl } from '../settings.js';
import { errorMessage, InputError, withContext } from '../util/errors.js';
import { isNetworkError, retry } from '../util/retry.js';
import { percentDecoded } from '../util/text.js';
import { credentialFor } from './credential.js';
import {
  type CredentialProvider,
  type IssueRequest,
  type IssuedCredential,
  type Marker,
  NotOwnerError,
  decodeMarker,
  encodeMarker
} from './types.js';

const { escape: lit, escapeId: id } = mysql;

// Our own schema: the bookkeeping table that proves we made a user, and the expiry events.
const SCHEMA = 'ephemeral_credentials';
const TABLE = `${id(SCHEMA)}.${id('users')}`;
const UNKNOWN_THREAD = 1094; // ER_NO_SUCH_THREAD: the connection ended before we killed it
const NO_SUCH_SCHEMA = [1049, 1146]; // ER_BAD_DB_ERROR, ER_NO_SUCH_TABLE: nothing made yet
const NO_PRIVILEGE = [1044, 1142, 1227]; // ER_DBACCESS_DENIED, ER_TABLEACCESS_DENIED, ER_SPECIFIC_ACCESS_DENIED

/** What the server is, learned in the first round trip. */
interface Server {
  mariadb: boolean;
  scheduler: boolean;
}

/** A MySQL 8 / MariaDB 10.6+ provider bound to one admin URL; `userHost` is the account's host pattern. */
export function mysqlProvider(
  admin: AdminUrl,
  connectTimeoutMs: number,
  userHost = '%'
): CredentialProvider {
  const host = admin.url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(admin.url.port || 3306);
  const where = `${host}:${port}`;
  const ssl = tlsOptions(admin.url.searchParams);

  async function withConnection<T>(
    fn: (c: mysql.Connection, server: Server) => Promise<T>
  ): Promise<T> {
    const connection = await retry(
      () =>
        mysql.createConnection({
          host,
          port,
          user: percentDecoded(admin.url.username),
          password: percentDecoded(admin.url.password),
          connectTimeout: connectTimeoutMs,
          // Several of our own statements go in one round trip; every value in them is escaped.
          multipleStatements: true,
          ...(ssl ? { ssl } : {})
        }),
      { attempts: 3, baseMs: 200, maxMs: 2000, retryable: isNetworkError }
    );
    connection.on('error', () => undefined);
    try {
      // UTC, so that event times and the bookkeeping table mean what they say.
      const [rows] = await connection.query<mysql.RowDataPacket[][]>(
        `SET time_zone = '+00:00'; SELECT VERSION() AS version, @@event_scheduler AS scheduler`
      );
      const info = rows[1]![0]!;
      const server = {
        mariadb: /mariadb/i.test(String(info.version)),
        scheduler: String(info.scheduler) === 'ON'
      };
      return await fn(connection, server);
    } finally {
      await connection.end().catch(() => connection.destroy());
    }
  }

  const account = (user: string, hostPattern: string) => `${lit(user)}@${lit(hostPattern)}`;
  const eventName = (user: string) => `${id(SCHEMA)}.${id(`expire_${user}`)}`;

  async function killSessions(c: mysql.Connection, user: string): Promise<void> {
    const [rows] = await c.query<mysql.RowDataPacket[]>(
      'SELECT id FROM information_schema.processlist WHERE user = ? AND id <> CONNECTION_ID()',
      [user]
    );
    for (const row of rows) {
      await c.query(`KILL CONNECTION ${Number(row.id)}`).catch((err: { errno?: number }) => {
        if (err.errno !== UNKNOWN_THREAD) throw err;
      });
    }
  }

  /** Revokes under a server-wide named lock, so two revokers (post step and sweep) take turns. */
  async function revokeWith(
    c: mysql.Connection,
    user: string,
    allow?: (marker: Marker) => boolean
  ): Promise<'revoked' | 'absent'> {
    const lock = lit(`${SCHEMA}.${user}`);
    const [[got]] = await c.query<mysql.RowDataPacket[]>(`SELECT GET_LOCK(${lock}, 30) AS got`);
    if (Number(got?.got) !== 1)
      throw new Error(`another revoke of ${user} has held its lock for 30 seconds`);
    try {
      return await revokeLocked(c, user, allow);
    } finally {
      await c.query(`DO RELEASE_LOCK(${lock})`);
    }
  }

  async function revokeLocked(
    c: mysql.Connection,
    user: string,
    allow?: (marker: Marker) => boolean
  ): Promise<'revoked' | 'absent'> {
    const [rows] = await c
      .query<mysql.RowDataPacket[][]>(
        `SELECT host, marker FROM ${TABLE} WHERE user = ?; SELECT Host AS host FROM mysql.user WHERE User = ?`,
        [user, user]
      )
      .catch((err: { errno?: number }) => {
        if (!NO_SUCH_SCHEMA.includes(err.errno ?? 0)) throw err;
        return [[[], []]] as unknown as [mysql.RowDataPacket[][]];
      });
    const [booked, accounts] = [rows[0] ?? [], rows[1] ?? []];
    const ours = booked.find((row) => decodeMarker(String(row.marker)));
    if (!ours) {
      if (accounts.length)
        throw new Error(`user ${user} was not created by ephemeral-credentials; left alone`);
      return 'absent';
    }
    if (allow && !allow(decodeMarker(String(ours.marker))!)) {
      throw new NotOwnerError(`user ${user} belongs to another run`);
    }
    const target = account(user, String(ours.host));
    const exists = accounts.some((row) => row.host === ours.host);
    if (exists) {
      // Lock first so that no session can start between the kill and the drop.
      await c.query(`ALTER USER IF EXISTS ${target} ACCOUNT LOCK`);
      await killSessions(c, user);
    }
    await c.query(`DROP USER IF EXISTS ${target}`);
    // An admin without EVENT on our schema made no event, and may not even look for one.
    await c.query(`DROP EVENT IF EXISTS ${eventName(user)}`).catch((err: { errno?: number }) => {
      if (!NO_PRIVILEGE.includes(err.errno ?? 0)) throw err;
    });
    await c.query(`DELETE FROM ${TABLE} WHERE user = ?`, [user]);
    return exists ? 'revoked' : 'absent';
  }

  /**
   * MariaDB lets an admin set another user's default role only with UPDATE on mysql.*; a user
   * may always set its own, so without that privilege the new user sets it for itself.
   */
  async function mariaDbDefaultRole(
    c: mysql.Connection,
    req: IssueRequest,
    role: string,
    target: string
  ) {
    try {
      await c.query(`SET DEFAULT ROLE ${role} FOR ${target}`);
    } catch (err) {
      if (!NO_PRIVILEGE.includes((err as { errno?: number }).errno ?? 0)) throw err;
      const self = await mysql.createConnection({
        host,
        port,
        user: req.username,
        password: req.password,
        connectTimeout: connectTimeoutMs,
        ...(ssl ? { ssl } : {})
      });
      try {
        await self.query(`SET DEFAULT ROLE ${role}`);
      } finally {
        await self.end().catch(() => self.destroy());
      }
    }
  }

  /** The server's own expiry: a one-shot event that drops the user and ends its sessions. */
  function expiryEvent(user: string, hostPattern: string, expiresAt: Date): string {
    return `CREATE EVENT ${eventName(user)} ON SCHEDULE AT ${lit(sqlTime(expiresAt))} ON COMPLETION NOT PRESERVE
DO BEGIN
  -- A failed DROP USER stops the event here, so the row stays and sweep tries again.
  DROP USER IF EXISTS ${account(user, hostPattern)};
  BEGIN
    DECLARE done INT DEFAULT 0;
    DECLARE cid BIGINT;
    DECLARE sessions CURSOR FOR SELECT id FROM information_schema.processlist WHERE user = ${lit(user)};
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;
    -- A session may end between the listing and its KILL.
    DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;
    OPEN sessions;
    kill_all: LOOP
      FETCH sessions INTO cid;
      IF done THEN LEAVE kill_all; END IF;
      KILL CONNECTION cid;
    END LOOP;
    CLOSE sessions;
  END;
  DELETE FROM ${TABLE} WHERE user = ${lit(user)};
END`;
  }

  return {
    async issue(req: IssueRequest): Promise<IssuedCredential> {
      const target = account(req.username, userHost);
      const notes: string[] = [];
      try {
        await withConnection(async (c, server) => {
          if (server.mariadb && req.roles.length > 1) {
            throw new InputError(
              `MariaDB makes only one role active at login, and roles lists ${req.roles.length}; grant one role that holds the others`
            );
          }
          const roles = req.roles.map((r) => (server.mariadb ? id(r) : lit(r))).join(', ');
          const statements = [
            `CREATE DATABASE IF NOT EXISTS ${id(SCHEMA)}`,
            `CREATE TABLE IF NOT EXISTS ${TABLE} (user VARCHAR(80) NOT NULL, host VARCHAR(255) NOT NULL,
               expires_at DATETIME NOT NULL, marker TEXT NOT NULL, PRIMARY KEY (user, host))`,
            // Booked before it exists: if we die half-way, sweep still finds it.
            `INSERT INTO ${TABLE} (user, host, expires_at, marker) VALUES (${lit(req.username)}, ${lit(userHost)}, ${lit(sqlTime(req.expiresAt))}, ${lit(encodeMarker(req.marker))})`,
            `CREATE USER ${target} IDENTIFIED BY ${lit(req.password)}`,
            ...(req.roles.length ? [`GRANT ${roles} TO ${target}`] : []),
            ...(req.roles.length && !server.mariadb ? [`SET DEFAULT ROLE ALL TO ${target}`] : [])
          ];
          try {
            await c.query(statements.join(';\n'));
            if (req.roles.length && server.mariadb) await mariaDbDefaultRole(c, req, roles, target);
          } catch (err) {
            // MySQL's DDL is not transactional: undo by hand whatever part ran.
            await revokeWith(c, req.username).catch(() => undefined);
            throw err;
          }
          if (!server.scheduler) {
            notes.push(
              `The event scheduler is off on ${where}, so the server will not drop ${req.username} at its expiry by itself; ` +
                'the post step and `sweep` will. Turn it on with SET GLOBAL event_scheduler = ON (and event_scheduler=ON in the server config).'
            );
            return;
          }
          await c.query(expiryEvent(req.username, userHost, req.expiresAt)).catch((err: Error) => {
            notes.push(
              `Could not create the expiry event for ${req.username} on ${where} (${errorMessage(err)}); ` +
                `the post step and \`sweep\` remove it instead. Grant the admin EVENT on ${SCHEMA}.* for a server-side expiry.`
            );
          });
        });
      } catch (err) {
        throw withContext(`Could not create MySQL user on ${where}`, err);
      }
      return { ...credentialFor('mysql', { ...req, host, port }), notes };
    },

    async revoke(username: string, allow?: (marker: Marker) => boolean) {
      try {
        return await withConnection((c) => revokeWith(c, username, allow));
      } catch (err) {
        if (err instanceof NotOwnerError) throw err;
        throw withContext(`Could not revoke MySQL user ${username} on ${where}`, err);
      }
    },

    async sweep({ dryRun }) {
      try {
        return await withConnection(async (c) => {
          const [rows] = await c
            .query<mysql.RowDataPacket[]>(
              `SELECT user, marker FROM ${TABLE} WHERE expires_at <= UTC_TIMESTAMP(6) ORDER BY user`
            )
            .catch((err: { errno?: number }) => {
              if (NO_SUCH_SCHEMA.includes(err.errno ?? 0))
                return [[]] as unknown as [mysql.RowDataPacket[]];
              throw err;
            });
          const expired = rows
            .filter((row) => decodeMarker(String(row.marker)))
            .map((row) => String(row.user));
          if (dryRun) return expired;
          const swept: string[] = [];
          const failed: string[] = [];
          for (const name of expired) {
            try {
              if ((await revokeWith(c, name)) === 'revoked') swept.push(name);
            } catch (err) {
              failed.push(`${name} (${errorMessage(err)})`); // one stuck user must not shield the rest
            }
          }
          if (failed.length)
            throw new Error(`revoked ${swept.length}, but could not revoke ${failed.join('; ')}`);
          return swept;
        });
      } catch (err) {
        throw withContext(`Could not sweep MySQL users on ${where}`, err);
      }
    }
  };
}

/** TLS as the admin URL's `ssl-mode` (and `ssl-ca`) ask, in the MySQL client's terms. */
function tlsOptions(params: URLSearchParams): mysql.SslOptions | undefined {
  const mode = (params.get('ssl-mode') ?? 'DISABLED').toUpperCase();
  if (mode === 'DISABLED') return undefined;
  const ca = params.get('ssl-ca');
  return {
    ...(ca ? { ca: readFileSync(ca, 'utf8') } : {}),
    rejectUnauthorized: mode !== 'REQUIRED',
    verifyIdentity: mode === 'VERIFY_IDENTITY'
  };
}

/** A UTC time as MySQL's DATETIME literal reads it (whole seconds). */
function sqlTime(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}
