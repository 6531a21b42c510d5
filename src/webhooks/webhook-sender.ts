/**
 * One webhook POST: signed with the Standard Webhooks headers by the
 * `standardwebhooks` package, sent to the address the SSRF policy checked
 * (the request never resolves the name a second time), with one deadline for
 * the whole exchange. Redirects are not followed.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { ReceiverPolicy } from './receiver-address.js';

/** How much of a receiver's answer is read (and dropped). */
const MAX_RESPONSE_BYTES = 64 * 1024;

export interface WebhookMessage {
  /** `webhook-id`: the event id, the same on every attempt and redelivery. */
  id: string;
  payload: string;
  /** `whsec_...`; during a secret rotation the new and the old one, each signing (`webhook-signature` lists both). */
  secrets: readonly string[];
}

export interface SendResult {
  /** The receiver's status; absent when there was no answer (refused, timed out, reset). */
  statusCode?: number;
  error?: string;
  durationMs: number;
}

/** The three Standard Webhooks headers for `message` at `at`. */
export function signatureHeaders(message: WebhookMessage, at: Date): Record<string, string> {
  return {
    'webhook-id': message.id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': message.secrets.map((secret) => new Webhook(secret).sign(message.id, at, message.payload)).join(' '),
  };
}

/** POSTs the message; never throws (a failure is a result with `error`). */
export async function sendWebhook(url: string, message: WebhookMessage, policy: ReceiverPolicy, timeoutMs: number, now = new Date()): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let target: URL;
  try {
    target = new URL(url);
    const { address, family } = await policy.resolve(target);
    const lookup: LookupFunction = (_host, options, callback) => {
      // Node asks for every address when it may try several (autoSelectFamily): answer the checked one alone.
      if (options.all) (callback as unknown as (err: null, all: { address: string; family: number }[]) => void)(null, [{ address, family }]);
      else callback(null, address, family);
    };
    const body = Buffer.from(message.payload);
    const options: RequestOptions = {
      method: 'POST',
      lookup,
      headers: {
        ...signatureHeaders(message, now),
        'content-type': 'application/json',
        'content-length': String(body.length),
        'user-agent': 'meno-webhooks/1',
      },
    };
    const statusCode = await post(target, options, body, timeoutMs);
    return { statusCode, durationMs: elapsed(), ...(statusCode >= 200 && statusCode < 300 ? {} : { error: `receiver answered ${statusCode}` }) };
  } catch (err) {
    return { error: (err as Error).message, durationMs: elapsed() };
  }
}

function post(url: URL, options: RequestOptions, body: Buffer, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, options);
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const finish = (fn: () => void) => {
      clearTimeout(timer);
      fn();
    };
    req.on('error', (err) => finish(() => reject(err)));
    req.on('response', (res: IncomingMessage) => {
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_RESPONSE_BYTES) res.destroy();
      });
      res.on('close', () => finish(() => resolve(res.statusCode ?? 0)));
      res.on('error', () => finish(() => resolve(res.statusCode ?? 0)));
    });
    req.end(body);
  });
}
