/** Command line of the chaos soak (`npm run soak -- …`). */

export interface SoakArgs {
  /** Load-and-chaos phase, seconds: submissions in its first 40 %, faults until 70 %, then draining. @defaultValue 300 */
  durationSec: number;
  /** Extra seconds the drain may run past the duration (while work still advances) before unfinished meetings count as stuck. @defaultValue 120 */
  drainGraceSec: number;
  /** Worker processes kept running. @defaultValue 3 */
  workers: number;
  /** Short meetings (single clips of 2-35 s). @defaultValue 50 */
  short: number;
  /** Long meetings (the first `longSec` of the long-form recording). @defaultValue 3 */
  long: number;
  /** Length of a long meeting, seconds. @defaultValue 180 */
  longSec: number;
  /** PRNG seed for clip choice, fault kinds, victims and intervals. @defaultValue 1 */
  seed: number;
  /** Shortest and longest pause between two faults, seconds. @defaultValue [6, 15] */
  faultGapSec: [number, number];
  /** Write bench/results/<date>-<commit>-soak.md. @defaultValue true */
  write: boolean;
}

export const USAGE = `usage: npm run soak -- [--duration 300] [--drain-grace 120] [--workers 3] [--short 50] [--long 3]
                       [--long-sec 180] [--seed N] [--fault-gap 6,15] [--no-write]`;

function int(flag: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} needs an integer ≥ ${min}, got "${value ?? ''}"\n${USAGE}`);
  return n;
}

/** Parses the part after `npm run soak --`. Throws with the usage on bad input. */
export function parseSoakArgs(argv: readonly string[]): SoakArgs {
  const args: SoakArgs = { durationSec: 300, drainGraceSec: 120, workers: 3, short: 50, long: 3, longSec: 180, seed: 1, faultGapSec: [6, 15], write: true };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2) as [string, string | undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--duration':
        args.durationSec = int(flag, value(), 30);
        break;
      case '--drain-grace':
        args.drainGraceSec = int(flag, value(), 0);
        break;
      case '--workers':
        args.workers = int(flag, value(), 2);
        break;
      case '--short':
        args.short = int(flag, value(), 0);
        break;
      case '--long':
        args.long = int(flag, value(), 0);
        break;
      case '--long-sec':
        args.longSec = int(flag, value(), 31);
        break;
      case '--seed':
        args.seed = int(flag, value(), 0);
        break;
      case '--fault-gap': {
        const raw = value() ?? '';
        const [lo, hi] = raw.split(',').map(Number);
        if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo <= 0 || hi < lo) throw new Error(`--fault-gap takes "MIN,MAX" seconds, got "${raw}"\n${USAGE}`);
        args.faultGapSec = [lo, hi];
        break;
      }
      case '--no-write':
        args.write = false;
        break;
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown argument "${argv[i]}"\n${USAGE}`);
    }
  }
  if (args.short + args.long === 0) throw new Error(`nothing to submit: --short and --long are both 0\n${USAGE}`);
  return args;
}
