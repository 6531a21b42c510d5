/**
 * A webhook receiver process for tests: listens on 127.0.0.1:$PORT and logs
 * every request as one JSON line (headers, body, the status it answered).
 * RECEIVER_PLAN: comma-separated statuses for successive requests (the last
 * one repeats), e.g. "500,500,200". RECEIVER_DELAY_MS: wait before answering.
 */
/* global process, Buffer, console, setTimeout */
import { createServer } from 'node:http';

const plan = (process.env.RECEIVER_PLAN ?? '200').split(',').map(Number);
const delayMs = Number(process.env.RECEIVER_DELAY_MS ?? 0);
let served = 0;

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const status = plan[Math.min(served, plan.length - 1)];
    served++;
    const line = { msg: 'received', path: req.url, method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString(), status, at: Date.now() };
    console.log(JSON.stringify(line));
    setTimeout(() => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(String(status));
    }, delayMs);
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'listening', port: server.address().port }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
