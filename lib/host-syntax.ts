/**
 * Is a string usable as a host to connect to or listen on: an IPv4/IPv6 literal, or a syntactically valid DNS
 * name (RFC 1123 labels; underscores tolerated)? Checked with the other options, so that a typo such as
 * '10.0.0.1:623', '[::1]', '300.1.2.3' or 'bmc host' is IPMI_ERR_BAD_ARGUMENT before any lookup or bind.
 */
import { isIP } from 'node:net';

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

export function isHostSyntax(host: string): boolean {
  if (isIP(host) !== 0) return true;
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  if (!labels.every((l) => LABEL.test(l))) return false;
  // All-numeric dotted names are broken IP addresses ('300.1.2.3', '10.0.0'), not host names.
  return !labels.every((l) => /^\d+$/.test(l));
}
