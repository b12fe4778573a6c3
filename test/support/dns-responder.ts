import { PUBLIC_FILE_MODE, writeFileAtomic } from '../../lib/atomic-file';

/**
 * A stand-in for the cluster DNS (CoreDNS) inside a node sandbox: a tiny UDP DNS server answering
 * A queries for the names in a JSON state file, NODATA for other types of those names (AAAA), and
 * NXDOMAIN for every other name. The state file is re-read on every query, so a test changes an answer
 * (e.g. the Service got a new ClusterIP) by rewriting the file; no restart, no signal.
 *
 * It has to run INSIDE the sandbox's network namespace (`ip netns exec NS node FILE ...`), so it is a
 * self-contained CommonJS script (plain Node, no TypeScript, no dependencies) that the harness writes
 * to a temp file. Usage: `node dns-responder.cjs STATE_FILE [LISTEN_IP] [PORT]` (default 127.0.0.1 53);
 * prints "listening IP:PORT" once bound, then one line per query: "query NAME type N -> ANSWER".
 *
 * Answers are authoritative (AA) with TTL 5 s; names compare case-insensitively, with or without the
 * trailing dot. No TCP, no EDNS (the resolvers used here, glibc, Go and busybox, ask over UDP).
 */
export const DNS_RESPONDER_SOURCE = String.raw`'use strict';
const dgram = require('node:dgram');
const fs = require('node:fs');
const args = process.argv.slice(2);
const stateFile = args[0];
const host = args[1] || '127.0.0.1';
const port = Number(args[2] || '53');
if (!stateFile) { process.stderr.write('usage: dns-responder STATE_FILE [LISTEN_IP] [PORT]\n'); process.exit(2); }

function records() {
  try { return JSON.parse(fs.readFileSync(stateFile, 'utf8')).records || {}; } catch (e) { return {}; }
}

function readQuestionName(msg, offset) {
  const labels = [];
  for (;;) {
    if (offset >= msg.length) throw new Error('truncated question');
    const len = msg[offset];
    if (len === 0) return { name: labels.join('.'), end: offset + 1 };
    if (len & 0xc0) throw new Error('compressed name in question');
    labels.push(msg.toString('latin1', offset + 1, offset + 1 + len));
    offset += 1 + len;
  }
}

function ipv4Bytes(ip) {
  const parts = String(ip).split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error('not an IPv4 address: ' + ip);
  return parts;
}

const socket = dgram.createSocket('udp4');
socket.on('message', (msg, peer) => {
  let reply;
  try {
    if (msg.length < 12 || msg.readUInt16BE(4) !== 1 || (msg.readUInt16BE(2) & 0x8000)) return;
    const q = readQuestionName(msg, 12);
    if (q.end + 4 > msg.length) throw new Error('truncated question');
    const qtype = msg.readUInt16BE(q.end);
    const qclass = msg.readUInt16BE(q.end + 2);
    const name = q.name.toLowerCase().replace(/\.$/, '');
    const recs = records();
    const key = Object.keys(recs).find((k) => k.toLowerCase().replace(/\.$/, '') === name);
    const answers = [];
    let rcode = 3; // NXDOMAIN
    let said = 'NXDOMAIN';
    if (key !== undefined) {
      rcode = 0;
      said = 'NODATA';
      if (qtype === 1 && qclass === 1) {
        const rr = Buffer.alloc(16);
        rr.writeUInt16BE(0xc00c, 0); // name: pointer to the question
        rr.writeUInt16BE(1, 2); // type A
        rr.writeUInt16BE(1, 4); // class IN
        rr.writeUInt32BE(5, 6); // TTL
        rr.writeUInt16BE(4, 10);
        ipv4Bytes(recs[key]).forEach((b, i) => { rr[12 + i] = b; });
        answers.push(rr);
        said = recs[key];
      }
    }
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0); // same id
    // QR=1, opcode and RD copied from the query, AA=1, RA=1, rcode.
    header.writeUInt16BE(0x8000 | (msg.readUInt16BE(2) & 0x7900) | 0x0400 | 0x0080 | rcode, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    reply = Buffer.concat([header, msg.subarray(12, q.end + 4)].concat(answers));
    process.stdout.write('query ' + name + ' type ' + qtype + ' -> ' + said + '\n');
  } catch (e) {
    process.stdout.write('bad query: ' + e.message + '\n');
    return;
  }
  socket.send(reply, peer.port, peer.address);
});
socket.on('error', (e) => { process.stderr.write('dns-responder: ' + e.message + '\n'); process.exit(1); });
socket.bind(port, host, () => process.stdout.write('listening ' + host + ':' + port + '\n'));
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
`;

/** name → IPv4 address. */
export type DnsRecords = Readonly<Record<string, string>>;

/** Writes the responder's state atomically, so a query never reads half a file. */
export function writeDnsState(stateFile: string, records: DnsRecords): void {
  writeFileAtomic(stateFile, `${JSON.stringify({ records }, null, 2)}\n`, PUBLIC_FILE_MODE);
}
