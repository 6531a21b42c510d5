/**
 * The process tree under a pid, read from /proc (Linux), for tests that
 * check that no process of a service outlives its shutdown.
 */
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** The command line, arguments joined by spaces. */
  command: string;
}

function stat(pid: number): { ppid: number; state: string } | undefined {
  try {
    // comm may hold spaces or parentheses: the fields after the last ')' are fixed.
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a live process (not gone, not a zombie waiting to be reaped). */
export function isAlive(pid: number): boolean {
  const s = stat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X';
}

/** `root` and every live descendant, parents before children. */
export function processTree(root: number): ProcInfo[] {
  const all = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .flatMap((pid) => {
      const s = stat(pid);
      if (!s || !isAlive(pid)) return [];
      let command = '';
      try {
        command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      } catch {
        return [];
      }
      return [{ pid, ppid: s.ppid, command }];
    });
  const tree: ProcInfo[] = all.filter((p) => p.pid === root);
  for (let i = 0; i < tree.length; i++) tree.push(...all.filter((p) => p.ppid === tree[i].pid));
  return tree;
}
