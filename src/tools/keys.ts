/**
 * `npm run keys -- <command>`: API keys kept in MongoDB, managed with the
 * service's own settings (MONGODB_URL, MONGODB_DB, MONGODB_TIMEOUT_MS):
 *
 *   create --project <projectId> --name <name>   a project key; the key alone on stdout (shown only now)
 *   create --admin --name <name>                 an admin key (every project, the admin routes, /metrics)
 *   list [--project <projectId>] [--all]         keys without secrets (--all: revoked ones too)
 *   revoke <keyId>                               refused by every API process within API_KEY_CACHE_MS
 *
 * Exit codes: 0 done, 1 failed (bad configuration, MongoDB unreachable,
 * unknown key), 2 bad usage. Errors are one line on stderr.
 */
import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../core/config.js';
import { AppError, coerceError } from '../core/errors.js';
import { type ApiKeyDocument, ApiKeyRepository, KEY_ID_PATTERN } from '../core/keys/api-key.repository.js';
import { createLogger } from '../core/logger.js';
import { connectMongo } from '../core/mongo.js';
import { ID_PATTERN } from '../api/validation.js';
import { keyNameSchema } from '../api/routes/admin-keys.routes.js';

const USAGE = `usage: npm run keys -- create --project <projectId> --name <name>
       npm run keys -- create --admin --name <name>
       npm run keys -- list [--project <projectId>] [--all]
       npm run keys -- revoke <keyId>`;

class UsageError extends Error {}

type Command =
  | { kind: 'create'; projectId: string | null; name: string }
  | { kind: 'list'; projectId?: string; all: boolean }
  | { kind: 'revoke'; keyId: string };

function parseCommand(argv: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { project: { type: 'string' }, admin: { type: 'boolean' }, name: { type: 'string' }, all: { type: 'boolean' } },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  const project = values.project;
  if (project !== undefined && !ID_PATTERN.test(project)) throw new UsageError(`--project: expected 1-64 letters, digits, "-" or "_" (got ${JSON.stringify(project)})`);
  switch (command) {
    case 'create': {
      if (rest.length) throw new UsageError(`create takes no argument ${JSON.stringify(rest[0])}`);
      if ((project === undefined) === !values.admin) throw new UsageError('create needs exactly one of --project <projectId> and --admin');
      const name = keyNameSchema.safeParse(values.name ?? '');
      if (!name.success) throw new UsageError(`--name: ${name.error.issues[0]?.message ?? 'invalid'}`);
      return { kind: 'create', projectId: project ?? null, name: name.data };
    }
    case 'list':
      if (rest.length || values.admin || values.name !== undefined) throw new UsageError('list takes only --project and --all');
      return { kind: 'list', projectId: project, all: values.all ?? false };
    case 'revoke': {
      if (rest.length !== 1 || project !== undefined || values.admin || values.name !== undefined) throw new UsageError('revoke takes one key id');
      if (!KEY_ID_PATTERN.test(rest[0])) throw new UsageError(`expected a key id of 16 hex digits, as "list" shows (got ${JSON.stringify(rest[0])})`);
      return { kind: 'revoke', keyId: rest[0] };
    }
    default:
      throw new UsageError(command === undefined ? 'no command' : `unknown command ${JSON.stringify(command)}`);
  }
}

function row(k: ApiKeyDocument): string {
  const cells = [k.keyId, k.prefix, k.projectId ?? '(admin)', k.name, k.createdAt.toISOString(), k.lastUsedAt?.toISOString() ?? '-', k.revokedAt?.toISOString() ?? '-'];
  return cells.join('\t');
}

async function run(command: Command): Promise<void> {
  const config = loadConfigOrExit();
  const mongo = await connectMongo({ url: config.mongo.url, db: config.mongo.db, timeoutMs: config.mongo.timeoutMs, logger: createLogger({ level: 'silent' }) });
  try {
    const keys = new ApiKeyRepository(mongo.db);
    await keys.ensureIndexes();
    switch (command.kind) {
      case 'create': {
        const { key, document } = await keys.create({ projectId: command.projectId, name: command.name });
        process.stdout.write(`${key}\n`);
        const scope = document.projectId === null ? 'an admin key' : `a key for project ${document.projectId}`;
        process.stderr.write(`created ${scope}: id ${document.keyId}, name ${JSON.stringify(document.name)}. The key above is shown only now; store it.\n`);
        return;
      }
      case 'list': {
        const filter = { projectId: command.projectId, includeRevoked: command.all };
        process.stdout.write(['keyId\tprefix\tproject\tname\tcreated\tlastUsed\trevoked', ...(await keys.list(filter)).map(row)].join('\n') + '\n');
        return;
      }
      case 'revoke': {
        const revoked = await keys.revoke(command.keyId);
        process.stdout.write(`revoked ${revoked.keyId} (${JSON.stringify(revoked.name)}, ${revoked.projectId ?? 'admin'}) at ${revoked.revokedAt?.toISOString()}\n`);
        return;
      }
    }
  } finally {
    await mongo.close();
  }
}

async function main(): Promise<void> {
  let command: Command;
  try {
    command = parseCommand(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`keys: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  try {
    await run(command);
  } catch (err) {
    const e = coerceError(err);
    const message = e instanceof AppError ? e.message : `${e.name}: ${e.message}`;
    process.stderr.write(`keys: ${message.split('\n')[0]}\n`);
    process.exit(1);
  }
}

void main();
