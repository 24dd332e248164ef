import type { Target } from '../settings.js';
import type { CredentialProvider } from './types.js';

/**
 * Loads only the chosen provider's code (and driver): a PostgreSQL job never parses mysql2.
 */
export async function loadProvider(
  target: Target & { userHost?: string }
): Promise<CredentialProvider> {
  if (target.provider === 'mysql') {
    const { mysqlProvider } = await import('./mysql.js');
    return mysqlProvider(target.adminUrl, target.connectTimeoutMs, target.userHost);
  }
  const { postgresProvider } = await import('./postgres.js');
  return postgresProvider(target.adminUrl, target.connectTimeoutMs);
}
