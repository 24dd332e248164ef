import type { Platform } from '../../src/platform/types.js';
import { parseState, stringifyState, type LeaseState } from '../../src/state.js';
import { cliIdentity } from '../../src/oidc/identity.js';

/** One thing a platform was asked to do, in order. */
export type Event = {
  kind: 'mask' | 'export' | 'output' | 'state' | 'info' | 'notice' | 'warning' | 'summary';
  name?: string;
  value: string;
};

/** A Platform that records every call, so tests can check order (masks first) and content. */
export function recordingPlatform(inputs: Record<string, string>, token?: () => Promise<string>) {
  const events: Event[] = [];
  let saved: string | undefined;
  const platform: Platform = {
    input: (name) => inputs[name] ?? '',
    tokens: {
      available: () => Boolean(token),
      request: async () => token!(),
      missingHint: 'add id-token: write'
    },
    identity: (claims) =>
      cliIdentity(
        { GITLAB_CI: 'true', CI_PROJECT_ID: '42', CI_JOB_ID: '7', CI_PIPELINE_ID: '9' },
        claims
      ),
    mask: (value) => events.push({ kind: 'mask', value }),
    exportVariable: (name, value) => events.push({ kind: 'export', name, value }),
    setOutput: (name, value) => events.push({ kind: 'output', name, value }),
    flush: async () => undefined,
    async saveState(state: LeaseState) {
      saved = stringifyState(state);
      events.push({ kind: 'state', value: saved });
    },
    loadState: async () => parseState(saved),
    info: (value) => events.push({ kind: 'info', value }),
    notice: (value) => events.push({ kind: 'notice', value }),
    warning: (value) => events.push({ kind: 'warning', value }),
    summary: async (facts) => void events.push({ kind: 'summary', value: JSON.stringify(facts) }),
    summaryNote: async (line) => void events.push({ kind: 'summary', value: line })
  };
  const of = (kind: Event['kind']) => events.filter((e) => e.kind === kind);
  return {
    platform,
    events,
    of,
    exported: () => Object.fromEntries(of('export').map((e) => [e.name!, e.value]))
  };
}
