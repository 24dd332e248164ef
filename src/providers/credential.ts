import type { DbProvider } from '../settings.js';
import type { IssuedCredential } from './types.js';

/** Where and who: what a database credential is made of, wherever it was created. */
export interface Login {
  host: string;
  port: number;
  username: string;
  password: string;
  database: string;
  expiresAt: Date;
  /** PostgreSQL: the admin URL's sslmode, carried over. */
  sslmode?: string | null;
}

/**
 * The URL and variables a job receives for a login: the same for a user this process made and
 * one a broker made, so both look alike to the job.
 */
export function credentialFor(provider: DbProvider, login: Login): IssuedCredential {
  const url = new URL(
    `${provider}://${login.host.includes(':') ? `[${login.host}]` : login.host}:${login.port}`
  );
  url.username = login.username;
  url.password = login.password;
  url.pathname = `/${encodeURIComponent(login.database)}`;
  if (provider === 'postgres' && login.sslmode) url.searchParams.set('sslmode', login.sslmode);
  const env: Record<string, string> =
    provider === 'postgres'
      ? {
          DATABASE_URL: url.href,
          PGHOST: login.host,
          PGPORT: String(login.port),
          PGUSER: login.username,
          PGPASSWORD: login.password,
          PGDATABASE: login.database,
          ...(login.sslmode ? { PGSSLMODE: login.sslmode } : {})
        }
      : {
          DATABASE_URL: url.href,
          MYSQL_HOST: login.host,
          MYSQL_TCP_PORT: String(login.port),
          MYSQL_USER: login.username,
          MYSQL_PWD: login.password,
          MYSQL_DATABASE: login.database
        };
  return {
    username: login.username,
    host: login.host,
    port: login.port,
    database: login.database,
    url: url.href,
    env,
    expiresAt: login.expiresAt
  };
}
