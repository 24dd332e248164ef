import { githubPlatform } from './platform/github.js';
import { revokeAtJobEnd } from './revoke.js';

await revokeAtJobEnd(githubPlatform());
