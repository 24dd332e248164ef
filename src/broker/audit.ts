import { appendFileSync } from 'node:fs';
import type { JWTPayload } from 'jose';

/** The claims that decide a request, copied into audit lines; the token itself never is. */
const AUDIT_CLAIMS = [
  'iss',
  'sub',
  'aud',
  'repository',
  'repository_id',
  'repository_owner',
  'ref',
  'environment',
  'workflow',
  'run_id',
  'run_attempt',
  'actor',
  'project_id',
  'project_path',
  'job_id',
  'pipeline_id'
];

/** One decision: issued, denied (and why), revoked, swept, failed. */
export interface AuditEvent {
  event: 'issued' | 'denied' | 'revoked' | 'swept' | 'failed';
  reason?: string;
  profile?: string;
  target?: string;
  lease_id?: string;
  users?: string[];
  claims?: JWTPayload;
}

/** Writes one JSON object a line to stdout or a file. */
export function auditLog(destination: string) {
  const write =
    destination === 'stdout'
      ? (line: string) => process.stdout.write(line)
      : (line: string) => appendFileSync(destination, line, { mode: 0o600 });
  return (event: AuditEvent) => {
    const claims = event.claims
      ? Object.fromEntries(
          AUDIT_CLAIMS.filter((name) => name in event.claims!).map((name) => [
            name,
            event.claims![name]
          ])
        )
      : undefined;
    write(
      `${JSON.stringify({ time: new Date().toISOString(), ...event, ...(claims ? { claims } : {}) })}\n`
    );
  };
}
