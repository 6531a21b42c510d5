/**
 * Noticing that the process that started this one is gone, so that nothing
 * keeps running unsupervised (a worker holding its GPU and renewing its job
 * lock while the operator believes the service stopped).
 *
 * Two signs, whichever comes first: the IPC channel to the parent closes (a
 * child of `npm start`'s supervisor: immediate, even when the parent was
 * killed with SIGKILL), or the parent process id changes (the orphan is
 * adopted by init or a subreaper), checked every `pollMs`.
 */

export interface ParentWatchOptions {
  /** Called once, with what was seen. */
  onGone: (reason: 'ipc-disconnect' | 'reparented') => void;
  /** @defaultValue 1000 */
  pollMs?: number;
  /** Also poll the parent pid (without an IPC channel, the only sign). @defaultValue true */
  pollParentPid?: boolean;
}

/** Starts watching; returns a function that stops it. Keeps no event-loop reference of its own. */
export function watchParent(options: ParentWatchOptions): () => void {
  const startPpid = process.ppid;
  let fired = false;
  const fire = (reason: 'ipc-disconnect' | 'reparented') => {
    if (fired) return;
    fired = true;
    stop();
    options.onGone(reason);
  };
  const onDisconnect = () => fire('ipc-disconnect');
  if (process.channel) {
    process.once('disconnect', onDisconnect);
    // The channel must not keep the process alive once its work is done.
    process.channel.unref();
  }
  const timer =
    options.pollParentPid === false
      ? undefined
      : setInterval(() => {
          if (process.ppid !== startPpid) fire('reparented');
        }, options.pollMs ?? 1000);
  timer?.unref();
  function stop(): void {
    if (timer) clearInterval(timer);
    process.off('disconnect', onDisconnect);
  }
  return stop;
}

/**
 * Whether this process should stop with its parent: it was started by npm
 * (`npm start`, `npm run start:worker`: npm sets npm_lifecycle_event and stays
 * the parent) or by the supervisor of `npm start` (an IPC channel). Started
 * by systemd, tini or a shell directly, the parent is the service manager,
 * and a process left by its shell (nohup) keeps running as asked.
 */
export function supervisedByParent(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(process.channel) || Boolean(env.npm_lifecycle_event);
}
