import type { Target } from '../settings.js';
import type { CredentialProvider } from './types.js';

/**
 * Loads only the chosen provider's code (and driver): a PostgreSQL job never parses mysql2.
 */
export async function loadProvider(
  target: Target & { userHost?: string }
): Promise<CredentialProvider> {
  switch (target.provider) {
    case 'postgres': {
      const { postgresProvider } = await import('./postgres.js');
      return postgresProvider(target.adminUrl, target.connectTimeoutMs);
    }
    case 'mysql': {
      const { mysqlProvider } = await import('./mysql.js');
      return mysqlProvider(target.adminUrl, target.connectTimeoutMs, target.userHost);
    }
    default:
      throw new Error(`provider "${target.provider}" is not available in this version yet`);
  }
}
