/** Last-resort cleanup: SIGKILL this process's children, synchronously (usable from an 'exit' handler). */
import { readdirSync, readFileSync } from 'node:fs';

/** Direct children of `pid`, read from /proc (Linux); empty elsewhere. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command: state, ppid, …
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Kills every child this process started (redis-server, FerretDB, API, workers), each by its pid. */
export function killChildrenSync(): number {
  const pids = childrenOf(process.pid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pids.length;
}
