/**
 * `npm run prepare-models`: builds the engine's prepared graphs for the
 * installed models (see src/tools/model-prep and models/README.md).
 */
import { runPrepareModelsCli } from '../src/tools/model-prep/cli.js';

process.exitCode = await runPrepareModelsCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
