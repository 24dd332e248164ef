import type { JWTPayload } from 'jose';

/** A claim's required value: one string, or a list of which any one may match. */
export type BoundClaim = string | string[];

/**
 * Matches a claim against a pattern in which `*` stands for any run of characters except `/`
 * and `:`; nothing else is special. So `org/app*` never matches `org/app/evil`, and
 * `repo:org/app*` never matches `repo:org/app-evil:ref:...`.
 */
export function globMatch(pattern: string, value: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&'))
    .join('[^/:]*');
  return new RegExp(`^${source}$`, 's').test(value);
}

/** Why a token's claims do not satisfy a profile, or undefined when they do. */
export function claimMismatch(
  bound: Record<string, BoundClaim>,
  claims: JWTPayload
): string | undefined {
  for (const [name, expected] of Object.entries(bound)) {
    const actual = claims[name];
    // Only plain strings and numbers are compared: a list or object claim never matches.
    if (typeof actual !== 'string' && typeof actual !== 'number') return `claim ${name} is missing`;
    const patterns = Array.isArray(expected) ? expected : [expected];
    if (!patterns.some((pattern) => globMatch(pattern, String(actual))))
      return `claim ${name} does not match`;
  }
  return undefined;
}
