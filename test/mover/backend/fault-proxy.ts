/**
 * A small HTTP proxy on 127.0.0.1 that sits in front of a real S3 server and injects faults: S3 error
 * responses (500 InternalError, 503 SlowDown, 403 AccessDenied) or dropped connections, chosen per request
 * by a test-supplied rule. Everything it does not fault it forwards untouched.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What to do with one request. */
export type Fault = 'pass' | 'reset' | { status: number; code: string; message?: string };

/** One request as the rule sees it. */
export interface SeenRequest {
  method: string;
  path: string;
  /** 1-based count of all requests so far. */
  n: number;
}

/** A running proxy. */
export interface FaultProxy {
  endpoint: string;
  /** Every request received, in order, with what was done to it. */
  readonly log: (SeenRequest & { fault: Fault })[];
  /** Replaces the rule. */
  setRule(rule: (req: SeenRequest) => Fault): void;
  stop(): Promise<void>;
}

/** Fault helpers for rules. */
export const faults = {
  internal: {
    status: 500,
    code: 'InternalError',
    message: 'We encountered an internal error. Please try again.',
  },
  slowDown: { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' },
  accessDenied: { status: 403, code: 'AccessDenied', message: 'Access Denied' },
} satisfies Record<string, Fault>;

function s3ErrorBody(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;
}

function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    req.on('data', () => undefined);
    req.on('end', resolve);
    req.on('error', () => resolve());
  });
}

/** Starts a proxy to `target` (e.g. `http://127.0.0.1:PORT`). */
export async function startFaultProxy(
  target: string,
  rule: (req: SeenRequest) => Fault = () => 'pass',
): Promise<FaultProxy> {
  const upstream = new URL(target);
  const log: (SeenRequest & { fault: Fault })[] = [];
  let current = rule;
  let n = 0;
  const server: Server = createServer((req, res) => {
    const seen: SeenRequest = { method: req.method ?? 'GET', path: req.url ?? '/', n: ++n };
    const fault = current(seen);
    log.push({ ...seen, fault });
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault !== 'pass') {
      void drain(req).then(() => {
        const body = s3ErrorBody(fault.code, fault.message ?? fault.code);
        res.writeHead(fault.status, {
          'content-type': 'application/xml',
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
      });
      return;
    }
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => req.socket.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    log,
    setRule(next) {
      current = next;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
