import { issue } from './issue.js';
import { githubPlatform } from './platform/github.js';
import { readSettings } from './settings.js';
import { errorMessage } from './util/errors.js';

const platform = githubPlatform();
try {
  await issue(readSettings(platform.input), platform);
} catch (err) {
  platform.fail(errorMessage(err));
}
