import * as core from '@actions/core';
import { githubIdentity } from '../oidc/identity.js';
import { parseState, STATE_KEY, stringifyState, type LeaseState } from '../state.js';
import type { Platform, SummaryFacts } from './types.js';

/** The GitHub Actions runner: the only place that talks to @actions/core. */
export function githubPlatform(env: NodeJS.ProcessEnv = process.env): Platform & {
  fail(message: string): void;
} {
  const hasSummary = () => Boolean(env.GITHUB_STEP_SUMMARY);
  return {
    input: (name) => core.getInput(name),
    tokens: {
      available: () =>
        Boolean(env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN),
      request: (audience) => core.getIDToken(audience),
      missingHint:
        'Add `permissions: id-token: write` to the job (or workflow) that uses this action.'
    },
    identity: (claims) => githubIdentity(env, claims),
    mask: (secret) => core.setSecret(secret),
    exportVariable: (name, value) => core.exportVariable(name, value),
    setOutput: (name, value) => core.setOutput(name, value),
    flush: async () => undefined, // the runner's files are written as we go
    async saveState(state) {
      core.saveState(STATE_KEY, stringifyState(state));
    },
    async loadState() {
      return parseState(core.getState(STATE_KEY));
    },
    info: (message) => core.info(message),
    warning: (message) => core.warning(message),
    async summary(facts: SummaryFacts) {
      if (!hasSummary()) return;
      await core.summary
        .addHeading('Ephemeral credentials', 3)
        .addTable([
          [
            { data: 'user', header: true },
            { data: 'roles', header: true },
            { data: 'database', header: true },
            { data: 'expires at', header: true }
          ],
          [
            facts.username,
            facts.roles.join(', ') || '(none)',
            `${facts.database} on ${facts.target}`,
            facts.expiresAt
          ]
        ])
        .write();
    },
    async summaryRevoked(state: LeaseState, when: Date) {
      if (!hasSummary()) return;
      await core.summary
        .addRaw(`User ${state.username} revoked at ${when.toISOString()}.`, true)
        .write();
    },
    fail: (message) => core.setFailed(message)
  };
}
