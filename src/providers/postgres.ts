import pg from 'pg';
import type { AdminUrl } from '../settings.js';
import { errorMessage, withContext } from '../util/errors.js';
import { isNetworkError, retry } from '../util/retry.js';
import { credentialFor } from './credential.js';
import {
  type CredentialProvider,
  type IssueRequest,
  type IssuedCredential,
  type Marker,
  NotOwnerError,
  decodeMarker,
  encodeMarker,
  MARKER_PREFIX
} from './types.js';

const { Client, escapeIdentifier: id, escapeLiteral: lit } = pg;

// SQLSTATE 42704 undefined_object: the role is already gone.
const ROLE_GONE = '42704';
// SQLSTATE 42501 insufficient_privilege.
const NO_PRIVILEGE = '42501';

// Two revokers of one role (post step and sweep, or two sweeps) collide on its catalog row;
// the next attempt finds the role gone or finishes the job.
const isConcurrentUpdate = (err: unknown) =>
  /tuple concurrently (updated|deleted)/.test((err as Error)?.message ?? '') ||
  ['40001', '40P01'].includes((err as { code?: string })?.code ?? '');

/** A PostgreSQL provider bound to one admin URL. */
export function postgresProvider(admin: AdminUrl, connectTimeoutMs: number): CredentialProvider {
  const host = admin.url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(admin.url.port || 5432);
  const where = `${host}:${port}`;
  const sslmode = admin.url.searchParams.get('sslmode');

  async function withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    // Only the connect is retried: nothing has been sent, so nothing can be done twice.
    const client = await retry(
      async () => {
        const c = new Client({
          connectionString: admin.url.href,
          connectionTimeoutMillis: connectTimeoutMs,
          application_name: 'ephemeral-credentials'
        });
        c.on('error', () => undefined); // a dropped idle connection must not crash the process
        try {
          await c.connect();
          return c;
        } catch (err) {
          await c.end().catch(() => undefined);
          throw err;
        }
      },
      { attempts: 3, baseMs: 200, maxMs: 2000, retryable: isNetworkError }
    );
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /**
   * Revokers of one role (a post step and sweeps) take turns under an advisory lock; the lock is
   * per database, so revokers that connect to different databases fall back on retrying.
   */
  async function revokeWith(
    client: pg.Client,
    username: string,
    allow?: (marker: Marker) => boolean
  ): Promise<'revoked' | 'absent'> {
    const key = `ephemeral-credentials:${username}`;
    try {
      return await retry(() => revokeOnce(client, username, key, allow), {
        attempts: 4,
        baseMs: 50,
        maxMs: 500,
        retryable: isConcurrentUpdate
      });
    } finally {
      await client.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
    }
  }

  async function revokeOnce(
    client: pg.Client,
    username: string,
    key: string,
    allow?: (marker: Marker) => boolean
  ): Promise<'revoked' | 'absent'> {
    const found = await client.query<{ marker: string | null }>(
      `SELECT shobj_description(oid, 'pg_authid') AS marker
         FROM pg_roles, (SELECT pg_advisory_lock(hashtextextended($2, 0))) AS locked
        WHERE rolname = $1`,
      [username, key]
    );
    if (found.rowCount === 0) return 'absent';
    const marker = decodeMarker(found.rows[0]!.marker);
    if (!marker) {
      throw new Error(`role "${username}" was not created by ephemeral-credentials; left alone`);
    }
    if (allow && !allow(marker))
      throw new NotOwnerError(`role "${username}" belongs to another run`);
    const role = id(username);
    // One implicit transaction: end the sessions, hand over what the user owns, drop it.
    const finish = [
      `SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = ${lit(username)}`,
      `REASSIGN OWNED BY ${role} TO CURRENT_USER`,
      `DROP OWNED BY ${role}`,
      `DROP ROLE ${role}`
    ].join(';\n');
    try {
      // Committed on its own first, so no session can start between terminate and drop.
      await client.query(`ALTER ROLE ${role} NOLOGIN`);
      try {
        await client.query(finish);
      } catch (err) {
        if ((err as { code?: string }).code !== NO_PRIVILEGE) throw err;
        // Since PostgreSQL 16 a CREATEROLE admin holds only ADMIN OPTION on the roles it made;
        // joining the role, which is dropped in the same transaction, lets it end the role's
        // sessions and take over what the role owns.
        await client.query(`GRANT ${role} TO CURRENT_USER;\n${finish}`);
      }
      return 'revoked';
    } catch (err) {
      if ((err as { code?: string }).code === ROLE_GONE) return 'absent';
      throw err;
    }
  }

  return {
    async issue(req: IssueRequest): Promise<IssuedCredential> {
      const role = id(req.username);
      const statements = [
        `CREATE ROLE ${role} LOGIN PASSWORD ${lit(req.password)} VALID UNTIL ${lit(req.expiresAt.toISOString())}`,
        ...(req.roles.length ? [`GRANT ${req.roles.map(id).join(', ')} TO ${role}`] : []),
        `COMMENT ON ROLE ${role} IS ${lit(encodeMarker(req.marker))}`
      ];
      try {
        // One simple-protocol query is one implicit transaction: all statements or none.
        await withClient((client) => client.query(statements.join(';\n')));
      } catch (err) {
        throw withContext(`Could not create PostgreSQL user on ${where}`, err);
      }
      return credentialFor('postgres', { ...req, host, port, sslmode });
    },

    async revoke(username: string, allow?: (marker: Marker) => boolean) {
      try {
        return await withClient((client) => revokeWith(client, username, allow));
      } catch (err) {
        if (err instanceof NotOwnerError) throw err;
        throw withContext(`Could not revoke PostgreSQL user ${username} on ${where}`, err);
      }
    },

    async sweep({ dryRun }) {
      try {
        return await withClient(async (client) => {
          const { rows } = await client.query<{
            rolname: string;
            expired: boolean | null;
            marker: string;
          }>(
            `SELECT rolname, rolvaliduntil < now() AS expired, d.marker
               FROM pg_roles, LATERAL (SELECT shobj_description(oid, 'pg_authid') AS marker) d
              WHERE starts_with(d.marker, $1)`,
            [MARKER_PREFIX]
          );
          const expired = rows
            .filter((r) => r.expired ?? pastMarkerExpiry(r.marker))
            .map((r) => r.rolname)
            .sort();
          if (dryRun) return expired;
          const swept: string[] = [];
          const failed: string[] = [];
          for (const name of expired) {
            try {
              // Another sweeper may drop the same role first; "absent" is then not ours to report.
              if ((await revokeWith(client, name)) === 'revoked') swept.push(name);
            } catch (err) {
              failed.push(`${name} (${errorMessage(err)})`); // one stuck role must not shield the rest
            }
          }
          if (failed.length) {
            throw new Error(`revoked ${swept.length}, but could not revoke ${failed.join('; ')}`);
          }
          return swept;
        });
      } catch (err) {
        throw withContext(`Could not sweep PostgreSQL users on ${where}`, err);
      }
    }
  };
}

// A marked role whose VALID UNTIL someone cleared still expires by its marker.
function pastMarkerExpiry(text: string): boolean {
  const marker = decodeMarker(text);
  return marker ? Date.parse(marker.expires) < Date.now() : false;
}
