/**
 * `npm run fetch-models -- --model base --variant fp16`: downloads a Whisper
 * ONNX export from Hugging Face into models/whisper-<name>/ (resumable,
 * size- and hash-verified). See src/tools/model-fetch and models/README.md.
 */
import { runFetchModelsCli } from '../src/tools/model-fetch/cli.js';

process.exitCode = await runFetchModelsCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
