import pg from 'pg';
import { startLocalPostgres, type LocalPostgres } from '../../src/demo/postgres.js';

export { startLocalPostgres, type LocalPostgres };

/** Runs one query as the admin (or any URL) on a fresh connection. */
export async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = []
): Promise<pg.QueryResult<T>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query<T>(text, values);
  } finally {
    await client.end();
  }
}

/** Tries to log in with a URL; resolves the error message, or undefined when the login works. */
export async function loginError(url: string): Promise<string | undefined> {
  try {
    await query(url, 'SELECT 1');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The role's expiry, grants and marker as PostgreSQL sees them; undefined when it is gone. */
export async function roleFacts(adminUrl: string, username: string) {
  const { rows } = await query<{
    validuntil: Date | null;
    login: boolean;
    roles: string[];
    marker: string | null;
  }>(
    adminUrl,
    `SELECT r.rolvaliduntil AS validuntil, r.rolcanlogin AS login,
            coalesce(array_agg(g.rolname::text ORDER BY g.rolname) FILTER (WHERE g.rolname IS NOT NULL), '{}')::text[] AS roles,
            shobj_description(r.oid, 'pg_authid') AS marker
       FROM pg_roles r
       LEFT JOIN pg_auth_members m ON m.member = r.oid
       LEFT JOIN pg_roles g ON g.oid = m.roleid
      WHERE r.rolname = $1
      GROUP BY r.oid, r.rolvaliduntil, r.rolcanlogin`,
    [username]
  );
  return rows[0];
}
