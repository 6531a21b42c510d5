/**
 * Where webhooks may be sent (SSRF guard). A receiver URL is checked twice:
 * at registration (scheme, no credentials, an IP literal or `localhost` in a
 * refused network) and at every delivery, where its host is resolved and the
 * request connects to the address that was checked, never to a second
 * resolution (DNS rebinding).
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/** The longest receiver URL accepted. */
export const MAX_WEBHOOK_URL_CHARS = 2048;

/**
 * Refused unless an operator allows them (WEBHOOK_ALLOWED_NETWORKS): the
 * host itself, link-local (cloud metadata at 169.254.169.254 lives there),
 * the AWS IPv6 metadata address, unspecified, multicast and broadcast.
 * Private networks (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed: on-prem
 * receivers usually live there.
 */
const REFUSED_NETWORKS: readonly (readonly [string, number, 'ipv4' | 'ipv6'])[] = [
  ['0.0.0.0', 8, 'ipv4'],
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['100.100.100.200', 32, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['fd00:ec2::254', 128, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
];

/** Why a receiver address or URL is refused (a client's mistake: answered 400, never retried). */
export class ReceiverRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The SSRF policy: refused networks, minus the networks an operator allowed. */
export class ReceiverPolicy {
  private readonly refused = new BlockList();
  private readonly allowed = new BlockList();

  /** @param allowedNetworks CIDRs (`10.0.0.0/8`, `127.0.0.1/32`, `fd12::/16`) that may be reached even when refused by default. */
  constructor(allowedNetworks: readonly string[] = []) {
    for (const [address, prefix, type] of REFUSED_NETWORKS) this.refused.addSubnet(address, prefix, type);
    for (const cidr of allowedNetworks) {
      const parsed = parseCidr(cidr);
      if (!parsed) throw new Error(`not a network in CIDR notation: ${cidr}`);
      this.allowed.addSubnet(parsed.address, parsed.prefix, parsed.type);
    }
  }

  /** Throws ReceiverRefusedError when `address` (an IP literal) may not be reached. */
  assertAddress(address: string): void {
    const { ip, type } = normalizeAddress(address);
    if (this.allowed.check(ip, type)) return;
    if (this.refused.check(ip, type)) {
      throw new ReceiverRefusedError(`${address} is a loopback, link-local, metadata, multicast or unspecified address; an operator can allow it with WEBHOOK_ALLOWED_NETWORKS`);
    }
  }

  /**
   * Checks a receiver URL as given by a client: http or https, no user or
   * password, a host, and no refused IP literal or `localhost` name. Returns
   * the normalized URL. Names are resolved only at delivery.
   */
  checkUrl(value: string): string {
    if (value.length > MAX_WEBHOOK_URL_CHARS) throw new ReceiverRefusedError(`a webhook URL has at most ${MAX_WEBHOOK_URL_CHARS} characters`);
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ReceiverRefusedError('not an absolute URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ReceiverRefusedError(`expected an http:// or https:// URL (got ${url.protocol})`);
    if (url.username || url.password) throw new ReceiverRefusedError('a webhook URL may not carry a user name or password; authenticate with the signature instead');
    const host = hostOf(url);
    if (!host) throw new ReceiverRefusedError('the URL has no host');
    if (isIP(host)) this.assertAddress(host);
    else if (host === 'localhost' || host.endsWith('.localhost')) this.assertAddress('127.0.0.1');
    url.hash = '';
    return url.toString();
  }

  /**
   * Resolves the URL's host and checks every address it has (a name with one
   * refused address is refused: which one a client gets is not ours to pick).
   * Returns the first address, which the request must connect to.
   */
  async resolve(url: URL): Promise<{ address: string; family: 4 | 6 }> {
    const host = hostOf(url);
    if (isIP(host)) {
      this.assertAddress(host);
      return { address: host, family: isIP(host) as 4 | 6 };
    }
    let addresses: { address: string; family: number }[];
    try {
      addresses = await dnsLookup(host, { all: true, verbatim: true });
    } catch (err) {
      throw new Error(`cannot resolve ${host}: ${(err as Error).message}`, { cause: err });
    }
    if (addresses.length === 0) throw new Error(`cannot resolve ${host}: no address`);
    for (const a of addresses) this.assertAddress(a.address);
    return { address: addresses[0]!.address, family: addresses[0]!.family as 4 | 6 };
  }
}

/** The hostname without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

/** An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is checked as the IPv4 address it is. */
function normalizeAddress(address: string): { ip: string; type: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { ip: mapped[1]!, type: 'ipv4' };
  // The URL parser writes ::ffff:127.0.0.1 as ::ffff:7f00:1.
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hex) {
    const [high, low] = [parseInt(hex[1]!, 16), parseInt(hex[2]!, 16)];
    return { ip: [high >> 8, high & 255, low >> 8, low & 255].join('.'), type: 'ipv4' };
  }
  const family = isIP(address);
  if (family === 0) throw new ReceiverRefusedError(`not an IP address: ${address}`);
  return { ip: address, type: family === 4 ? 'ipv4' : 'ipv6' };
}

/** Parses `address/prefix` (a bare address is a /32 or /128); null when malformed. */
export function parseCidr(cidr: string): { address: string; prefix: number; type: 'ipv4' | 'ipv6' } | null {
  const [address = '', prefixText, ...rest] = cidr.trim().split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return null;
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return null;
  return { address, prefix, type: family === 4 ? 'ipv4' : 'ipv6' };
}
